"""Pieces shared by the tests that build a small synthetic US market in a tmp folder: the
sessions of a calendar and the config text of a benchmark `BENCH` (bench.csv) with a universe
`us` (wide.csv + members.csv). Synthetic data is for tests only."""
from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig

US_UNIVERSE = """[series.BENCH]
source = "csv"
path = "bench.csv"
calendar = "XNYS"
[universe.us]
prices = "wide.csv"
securities = "members.csv"
calendar = "XNYS"
benchmark = "BENCH"
"""


def sessions(calendar, start="2023-01-02", end="2025-12-30"):
    """The calendar's sessions from `start` to `end` (a DatetimeIndex)."""
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar=calendar))
    return closes.loc[start:end].index


def us_study(study: str, extra: str = "") -> str:
    """A config: `[study]` with universes = ["us"] and the lines in `study`, then
    US_UNIVERSE, then `extra`."""
    return f'[study]\nuniverses = ["us"]\n{study.strip()}\n{US_UNIVERSE}{extra}'


def gapped_market(rng, start: str, end: str, n_sec: int, beta=(0.5, 1.5), late: int = 400,
                  delisted: int = 200, constant: bool = True):
    """XNYS sessions from `start` to `end`, a market factor's daily log returns and the
    (sessions x n_sec) closes of securities that follow it (beta drawn in `beta`, 2 % daily
    noise) with 3 % random missing bars; security 1 lists `late` sessions in, security 2 has
    no bar in the last `delisted` sessions, security 3 (if `constant`) never moves."""
    import numpy as np
    dates = sessions("XNYS", start, end)
    market = rng.normal(0.0003, 0.01, len(dates))
    b = rng.uniform(*beta, n_sec)
    prices = 50 * np.exp(np.cumsum(market[:, None] * b
                                   + rng.normal(0, 0.02, (len(dates), n_sec)), axis=0))
    prices[rng.random(prices.shape) < 0.03] = np.nan         # random gaps
    prices[:late, 1] = np.nan                                 # a late listing
    prices[-delisted:, 2] = np.nan                            # a delisting
    if constant:
        prices[:, 3] = 20.0                                   # never moves
    return dates, market, prices
