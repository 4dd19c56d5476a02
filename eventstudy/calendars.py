"""Trading calendars and alignment: which session is day 0 for each (event, series).

Day 0 is the first session of the series whose close comes strictly after the announcement.
Session closes come from exchange_calendars (it knows that Tokyo's close moved from 15:00 to
15:30 on 2024-11-05), or from the series' own `close_time`/`close_tz` where the vendor's daily
bar does not end at an exchange close (Yahoo's FX bars end at midnight London).
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from eventstudy.config import SeriesConfig

CALENDAR_START = pd.Timestamp("2000-01-03")


@lru_cache(maxsize=32)
def _calendar(code: str):
    import exchange_calendars as xc   # 0.6 s: only when a calendar is needed
    with warnings.catch_warnings():  # exchange_calendars' own pandas deprecations, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return xc.get_calendar(code, start=CALENDAR_START)


def exchange_zone(code: str) -> str:
    """The time zone an exchange's calendar keeps its times in (e.g. Asia/Tokyo for XTKS)."""
    return str(_calendar(code).tz)


def session_closes(series: SeriesConfig) -> pd.Series:
    """Close instant (UTC) of every session of the series, indexed by naive session date."""
    return _session_closes(series.calendar, series.close_time, series.close_tz).copy()


@lru_cache(maxsize=32)
def _session_closes(calendar: str, close_time: str | None, close_tz: str | None) -> pd.Series:
    """One table per close rule, however many series share it (callers get copies)."""
    series = SeriesConfig(id="", name="", source="", calendar=calendar, close_time=close_time,
                          close_tz=close_tz)
    cal = _calendar(series.calendar)
    closes = cal.closes.copy()
    closes.index = pd.DatetimeIndex(closes.index).tz_localize(None).as_unit("ns")
    if series.close_time is not None:
        hours, minutes = (int(x) for x in series.close_time.split(":"))
        local = closes.index + pd.to_timedelta(hours, "h") + pd.to_timedelta(minutes, "min")
        # a time the clocks go through twice (01:30 New York on a fall-back day) is taken at
        # its first occurrence, in daylight time; a skipped one moves to the hour after
        first = np.ones(len(local), dtype=bool)
        closes = pd.Series(local.tz_localize(series.close_tz, ambiguous=first,
                                             nonexistent="shift_forward").tz_convert("UTC"),
                           index=closes.index)
    closes.name = "close_utc"
    return closes.astype("datetime64[ns, UTC]")


def close_rule(series: SeriesConfig) -> str:
    """How this series' session close is defined, in words for the report."""
    if series.close_time is not None:
        return (f"vendor's daily value taken at {series.close_time} {series.close_tz} "
                f"(calendar {series.calendar} for the session dates)")
    return f"exchange close from calendar {series.calendar} (exchange_calendars)"


def align(events: pd.DataFrame, series: SeriesConfig, closes: pd.Series) -> pd.DataFrame:
    """Day 0 of every event for one series: the first session whose close is after the event."""
    instants = pd.DatetimeIndex(events["announced_at_utc"]).tz_convert("UTC").as_unit("ns")
    close_values = pd.DatetimeIndex(closes.array).as_unit("ns")
    pos = close_values.searchsorted(instants, side="right")
    inside = (pos > 0) & (pos < len(closes))
    safe = np.clip(pos, 1, len(closes) - 1)
    out = pd.DataFrame({
        "event_id": events["event_id"].to_numpy(),
        "series": series.id,
        "calendar": series.calendar,
        "announced_at": events["announced_at"].to_numpy(),
        "announced_at_utc": instants,
        "time_precision": events["time_precision"].to_numpy(),
        "day0": closes.index[safe],
        "day0_close_utc": close_values[safe],
        "prev_session": closes.index[safe - 1],
        "prev_close_utc": close_values[safe - 1],
        "day0_pos": safe,
    })
    out.loc[~inside, ["day0", "prev_session"]] = pd.NaT
    out.loc[~inside, ["day0_close_utc", "prev_close_utc"]] = pd.NaT
    out["day0_pos"] = out["day0_pos"].where(inside, -1)
    out["close_rule"] = close_rule(series)
    return out
