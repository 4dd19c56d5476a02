"""Rebuild the bundled offline sample (eventstudy/data/sample/) from ../shared/data/market.

Run from the repository root:  python scripts/build_sample.py [MARKET_DIR]

Each sample file is `date,close` from 2015-01-01 on, cleaned as the market folder's SOURCES.md
says: rows captured mid-session dropped, the two dollar-index files joined, non-positive or
missing closes and duplicate dates dropped. The output is deterministic (same input, same bytes).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eventstudy.data import ticker_filename  # noqa: E402

START = "2015-01-01"
OUT = ROOT / "eventstudy" / "data" / "sample"

# ticker -> (files, column, rows to drop because SOURCES.md says they are not closes)
PLAN = {
    "^N225": (["yahoo_N225.csv"], "Close", []),
    "JPY=X": (["yahoo_JPY=X.csv"], "Close", []),
    "^GSPC": (["yahoo_GSPC.csv"], "Close", ["2026-07-13"]),
    "ACWI": (["yahoo_ACWI.csv"], "Close", []),
    "DX-Y.NYB": (["yahoo_DX-Y.NYB_to_2025-08-12.csv", "yahoo_DX-Y.NYB_from_2025-07-16.csv"],
                 "Close", []),
    "7201.T": (["yahoo_7201.T.csv"], "Close", ["2026-07-13"]),
    "7203.T": (["yahoo_7203.T.csv"], "Close", ["2026-07-13"]),
    "7261.T": (["yahoo_7261.T.csv"], "Close", ["2026-07-13"]),
    "7267.T": (["yahoo_7267.T.csv"], "Close", ["2026-07-13"]),
    "7270.T": (["yahoo_7270.T.csv"], "Close", ["2026-07-13"]),
    # FRED series, keyed as the cache keys them (SeriesConfig.vendor_key)
    "fred-DEXJPUS": (["fred_DEXJPUS_1971-2025.csv", "fred_DEXJPUS_2021-2026.csv"], "value", []),
    "fred-DTWEXBGS": (["fred_DTWEXBGS.csv"], "value", []),
}


def clean(market: Path, files: list[str], column: str, drop: list[str]) -> pd.DataFrame:
    parts = []
    for name in files:  # later files win where they overlap (they agree there, SOURCES.md)
        raw = pd.read_csv(market / name, na_values=["null", "", "."])
        raw = raw.rename(columns={"observation_date": "Date", "date": "Date", "DEXJPUS": "value"})
        parts.append(pd.DataFrame({"date": pd.to_datetime(raw["Date"]),
                                   "close": pd.to_numeric(raw[column], errors="coerce")}))
    frame = pd.concat(parts).drop_duplicates("date", keep="last")
    frame = frame[frame["date"] >= START]
    frame = frame[~frame["date"].isin(pd.to_datetime(drop))]
    frame = frame[frame["close"].notna() & (frame["close"] > 0)]
    return frame.sort_values("date").reset_index(drop=True)


def main(market: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for ticker, (files, column, drop) in PLAN.items():
        frame = clean(market, files, column, drop)
        path = OUT / f"{ticker_filename(ticker)}.csv"
        frame.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        print(f"{ticker:10s} {len(frame):5d} rows {frame['date'].iloc[0]:%Y-%m-%d} .. "
              f"{frame['date'].iloc[-1]:%Y-%m-%d} -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "market")
