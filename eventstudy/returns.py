"""Returns on a series' own trading sessions, and benchmark returns over the same intervals.

Conventions (docs/methods.md): a return belongs to the later of its two closes, so a return
across a holiday is the first session's after it. A session of the calendar with no bar is a
gap: its return is missing (never zero) and the next bar's return spans both sessions
(`span` = 2), so a CAR over the whole stretch is still the true price change.
"""
from __future__ import annotations

import numpy as np
import pandas as pd



def session_returns(prices: pd.DataFrame, closes: pd.Series, kind: str = "log") -> pd.DataFrame:
    """One row per calendar session from the first bar to the last.

    Columns: date, close_utc, pos (session number in the calendar), close, ret, span, gap.
    Bars on dates that are not sessions of the calendar are dropped (see `off_calendar_bars`).
    """
    first, last = prices["date"].iloc[0], prices["date"].iloc[-1]
    sessions = closes.loc[first:last]
    frame = pd.DataFrame({"date": sessions.index, "close_utc": sessions.array,
                          "pos": closes.index.get_indexer(sessions.index)})
    frame = frame.merge(prices[["date", "close"]], on="date", how="left")
    frame["gap"] = frame["close"].isna()
    bars = frame[~frame["gap"]]
    ratio = bars["close"] / bars["close"].shift(1)
    ret = np.log(ratio) if kind == "log" else ratio - 1.0
    frame["ret"] = ret.reindex(frame.index)
    frame["span"] = bars["pos"].diff().reindex(frame.index)
    return frame


def off_calendar_bars(prices: pd.DataFrame, closes: pd.Series) -> pd.DataFrame:
    """Bars dated on days the calendar says the market was closed (reported, not used)."""
    inside = prices["date"].isin(closes.index)
    return prices.loc[~inside, ["date", "close"]].reset_index(drop=True)


def benchmark_returns(series: pd.DataFrame, benchmark: pd.DataFrame, kind: str = "log",
                      ) -> pd.Series:
    """The benchmark's return over the same interval as each of the series' returns.

    The benchmark's price is taken as of each of the series' closes (its last close at or
    before that instant), so a Tokyo session is matched with the previous US session: the
    non-synchronous-close rule of the design guide. Indexed like `series`.
    """
    bench = benchmark.loc[~benchmark["gap"], ["close_utc", "close"]].sort_values("close_utc")
    rows = series.loc[~series["gap"], ["close_utc"]].reset_index()
    asof = pd.merge_asof(rows.sort_values("close_utc"),
                         bench.rename(columns={"close": "bench_close"}),
                         on="close_utc", direction="backward", allow_exact_matches=True)
    asof = asof.set_index("index").sort_index()["bench_close"]
    ratio = asof / asof.shift(1)
    out = np.log(ratio) if kind == "log" else ratio - 1.0
    return out.reindex(series.index)
