"""Rebuild the real universe example (examples/universe/) from ../shared/data/universe.

Run from the repository root:  python scripts/build_universe.py [SHARED_DATA_DIR]
(default: ../shared/data, holding universe/ and market/).

What it writes, closes only, deterministic (same input and library versions, same bytes):
* closes-tokyo.parquet, closes-us.parquet: long `security, date, close` (zstd), one per market
  so that each universe reads one file once; every row of every price file is copied as it is
  (bad rows included: finding them is the tool's job), except the last row of the Tokyo files
  (2026-07-13, a lunch-break snapshot, not a close: see SOURCES.md);
* securities.csv: symbol, name, group, sector, and sector_en (the TSE 33-industry names in
  English for Tokyo stocks; the GICS sector as it is for US stocks);
* TOPIX.csv: the official TOPIX close (`date,close`) from 2021 on, the Tokyo benchmark. The
  S&P 500 is the bundled sample's ^GSPC (eventstudy/data/sample/_GSPC.csv);
* SOURCES.md: provenance.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "universe"
LUNCH_BREAK_ROW = "2026-07-13"      # last row of every Tokyo file: a morning price
TOPIX_FROM = "2021-01-01"
UPSTREAM = ("ryofu1029-debug/jp-stock-analysis", "8d6e71c110a3d3856fd5ed6362975e3d87213793")

# The Tokyo Stock Exchange's 33 industries, in the English names JPX publishes.
TSE33 = {
    "水産・農林業": "Fishery, Agriculture & Forestry",
    "鉱業": "Mining",
    "建設業": "Construction",
    "食料品": "Foods",
    "繊維製品": "Textiles & Apparels",
    "パルプ・紙": "Pulp & Paper",
    "化学": "Chemicals",
    "医薬品": "Pharmaceutical",
    "石油・石炭製品": "Oil & Coal Products",
    "ゴム製品": "Rubber Products",
    "ガラス・土石製品": "Glass & Ceramics Products",
    "鉄鋼": "Iron & Steel",
    "非鉄金属": "Nonferrous Metals",
    "金属製品": "Metal Products",
    "機械": "Machinery",
    "電気機器": "Electric Appliances",
    "輸送用機器": "Transportation Equipment",
    "精密機器": "Precision Instruments",
    "その他製品": "Other Products",
    "電気・ガス業": "Electric Power & Gas",
    "陸運業": "Land Transportation",
    "海運業": "Marine Transportation",
    "空運業": "Air Transportation",
    "倉庫・運輸関連業": "Warehousing & Harbor Transportation Services",
    "情報・通信業": "Information & Communication",
    "卸売業": "Wholesale Trade",
    "小売業": "Retail Trade",
    "銀行業": "Banks",
    "証券、商品先物取引業": "Securities & Commodity Futures",
    "保険業": "Insurance",
    "その他金融業": "Other Financing Business",
    "不動産業": "Real Estate",
    "サービス業": "Services",
}


def securities(universe: Path) -> pd.DataFrame:
    frame = pd.read_csv(universe / "tickers.csv", dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    tokyo = frame["group"] != "us"
    unknown = sorted(set(frame.loc[tokyo, "sector"]) - set(TSE33))
    if unknown:
        raise SystemExit(f"no English name for TSE sector(s) {unknown}: add them to TSE33")
    frame["sector_en"] = np.where(tokyo, frame["sector"].map(TSE33), frame["sector"])
    return frame[["symbol", "name", "group", "sector", "sector_en"]]


def closes(universe: Path, symbols: list[str], tokyo: bool) -> pd.DataFrame:
    """Date and Close of every file, as written (the text parsed to float64 exactly)."""
    parts = []
    for symbol in symbols:
        path = universe / "prices" / f"{symbol}.csv"
        if not path.exists():
            continue                                  # FDXF and HONA have no file
        raw = pd.read_csv(path, usecols=["Date", "Close"], dtype={"Date": str})
        if tokyo and len(raw) and raw["Date"].iloc[-1] == LUNCH_BREAK_ROW:
            raw = raw.iloc[:-1]
        parts.append(pd.DataFrame({"security": symbol, "date": raw["Date"],
                                   "close": raw["Close"].astype("float64")}))
    return pd.concat(parts, ignore_index=True)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.table({
        "security": pa.array(frame["security"], type=pa.string()),
        "date": pa.array(pd.to_datetime(frame["date"], format="%Y-%m-%d").to_numpy(
            dtype="datetime64[s]"), type=pa.timestamp("s")),
        "close": pa.array(frame["close"].to_numpy(), type=pa.float64())})
    pq.write_table(table, path, compression="zstd", compression_level=19,
                   use_dictionary=["security"], column_encoding={"date": "DELTA_BINARY_PACKED"},
                   write_statistics=False, store_schema=False)


def topix(market: Path) -> pd.DataFrame:
    raw = pd.read_csv(market / "official_TOPIX.csv", dtype=str)   # values kept as written
    raw = raw[(raw["date"] >= TOPIX_FROM) & (pd.to_numeric(raw["value"]) > 0)]
    return pd.DataFrame({"date": raw["date"], "close": raw["value"]})


def csv_text(frame: pd.DataFrame) -> str:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue()


def sources_md(meta: pd.DataFrame, tokyo: pd.DataFrame, us: pd.DataFrame,
               top: pd.DataFrame) -> str:
    n_tokyo, n_us = tokyo["security"].nunique(), us["security"].nunique()
    return f"""\
# A real universe, compact: ~600 Tokyo stocks and ~500 S&P 500 stocks, daily closes

Built by `python scripts/build_universe.py` from `../shared/data/universe` and
`../shared/data/market`; the script rebuilds every file here byte for byte (same input, same
library versions). Nothing is edited but what is said below.

## Upstream
Every price and the securities list are from the public GitHub repository
`{UPSTREAM[0]}`, commit `{UPSTREAM[1]}` (2026-07-13): `data/tickers.csv` and
`data/raw/<symbol>.csv`. That repository downloaded them with yfinance (`auto_adjust=True`:
split- and dividend-adjusted) from Yahoo Finance. They are facts (published prices).
TOPIX is the official close published by JPX (`official_TOPIX.csv` of
`raylia529/market-indicators-dashboard`, `data/topix.csv`, commit
`23e1b336694c14607ffaa4f60e3fc96db0357c17`; see `../shared/data/market/SOURCES.md`).
Spot checks upstream: AAPL 2025-04-02 -> 04-03 = 222.71 -> 202.12 (-9.25 %, the Liberation
Day fall as reported); Toyota 7203.T 2025-04-02 -> 04-03 = 2577.37 -> 2443.94 (-5.2 %).

## Files
| file | what |
|---|---|
| `closes-tokyo.parquet` | `security, date, close` (long, zstd): {n_tokyo} Tokyo stocks (TOPIX Core30 + Large70, Mid400, the first 100 of Small 1 by code), {len(tokyo):,} rows, {tokyo['date'].min()} to {tokyo['date'].max()}. Calendar XTKS (close 15:00 JST, 15:30 from 2024-11-05). |
| `closes-us.parquet` | the same for {n_us} S&P 500 stocks, {len(us):,} rows, {us['date'].min()} to {us['date'].max()}. Calendar XNYS. |
| `securities.csv` | `symbol, name, group, sector, sector_en`: {len(meta):,} rows as upstream (`group`: large, mid, small, us; `sector`: the TSE 33-industry class in Japanese for Tokyo stocks, the GICS sector for US stocks); `sector_en` is the JPX English name of the TSE industry (a fixed table in the script) or the GICS sector. |
| `TOPIX.csv` | `date,close`, the official TOPIX close, {top['date'].iloc[0]} to {top['date'].iloc[-1]} ({len(top):,} rows): the Tokyo benchmark. |
| `study.toml` | the example study (see its header). The S&P 500 benchmark is the bundled sample's `^GSPC`. |

## What was changed, and what was not
- Only the `Date` and `Close` columns are kept.
- The last row of every Tokyo file (2026-07-13) is dropped: it was saved during the Tokyo
  lunch break (11:35 JST) and holds a morning price, not a close.
- Everything else is copied as it is, bad rows included, because finding them is the tool's
  job. `eventstudy` reports them (`load_universe(...).problems`):
  - `8303.T` (SBI Shinsei Bank): impossible prices. 1.5e13 from 2021-07-13, negative
    closes (245 rows, 2022-03-30 to 2023-03-29), then a constant 5.4e10 with zero volume
    from 2023-09-27 to 2025-12-17 (delisted, relisted 2025-12-18). Skipped with the reason.
  - `8227.T` (Shimamura): an unadjusted 3-for-1 split on 2026-02-18 (10,935.94 -> 3,678.33,
    ratio 0.3364). The day is flagged; windows that contain it are not studied.
  - `FDXF` and `HONA` are listed in `securities.csv` but have no price file: reported as
    "no prices".
- Real large one-day moves are kept: e.g. Fiserv (FISV) -44.0 % on 2025-10-29 and Globe Life
  (GL) -53.1 % on 2024-04-11.
- Survivorship: the universe is the index members of the upstream snapshot, not the members
  of 2021; sector labels are those of that snapshot.
"""


def main(shared: Path) -> None:
    universe, market = shared / "universe", shared / "market"
    OUT.mkdir(parents=True, exist_ok=True)
    meta = securities(universe)
    us_mask = meta["group"] == "us"
    tokyo = closes(universe, list(meta.loc[~us_mask, "symbol"]), tokyo=True)
    us = closes(universe, list(meta.loc[us_mask, "symbol"]), tokyo=False)
    write_parquet(tokyo, OUT / "closes-tokyo.parquet")
    write_parquet(us, OUT / "closes-us.parquet")
    (OUT / "securities.csv").write_text(csv_text(meta), "utf-8")
    top = topix(market)
    (OUT / "TOPIX.csv").write_text(csv_text(top), "utf-8")
    (OUT / "SOURCES.md").write_text(sources_md(meta, tokyo, us, top), "utf-8")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    print(f"wrote {OUT}: {tokyo['security'].nunique()} Tokyo and {us['security'].nunique()} "
          f"US securities, {len(tokyo) + len(us):,} closes, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
