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
