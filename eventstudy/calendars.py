"""Trading calendars and alignment: which session is day 0 for each (event, series).

Day 0 is the first session of the series whose close comes strictly after the announcement.
Session closes come from exchange_calendars (it knows that Tokyo's close moved from 15:00 to
15:30 on 2024-11-05), or from the series' own `close_time`/`close_tz` where the vendor's daily
bar does not end at an exchange close (Yahoo's FX bars end at midnight London).
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=32)
def exchange_zone(code: str) -> str:
    """The time zone an exchange's calendar keeps its times in (e.g. Asia/Tokyo for XTKS):
    from today's stored session table when there is one (building the calendar to read its
    zone costs ~0.15 s, and importing exchange_calendars 0.4 s more)."""
    path = _closes_file(code, None, None)
    if path is not None and path.is_file():
        try:
            import pyarrow.parquet as pq
            zone = (pq.read_schema(path).metadata or {}).get(b"eventstudy.zone", b"").decode()
            if zone:
                return zone
        except Exception:  # noqa: BLE001 - a bad cache file is no cache
            pass
    return str(_calendar(code).tz)


def session_closes(series: SeriesConfig) -> pd.Series:
    """Close instant (UTC) of every session of the series, indexed by naive session date."""
    return _session_closes(series.calendar, series.close_time, series.close_tz).copy()


@lru_cache(maxsize=32)
def _session_closes(calendar: str, close_time: str | None, close_tz: str | None) -> pd.Series:
    """One table per close rule, however many series share it (callers get copies); kept a day
    on disk (`_stored_closes`), because building an exchange calendar takes ~0.15 s a process."""
    stored = _stored_closes(calendar, close_time, close_tz)
    if stored is not None:
        return stored
    closes = _build_closes(calendar, close_time, close_tz)
    _store_closes(closes, calendar, close_time, close_tz)
    return closes


def _closes_file(calendar, close_time, close_tz) -> Path | None:
    """$EVENTSTUDY_CACHE (or ~/.cache/eventstudy)/calendars/<exchange_calendars version>/
    <rule>-<today UTC>.parquet: a table built today by this version of exchange_calendars (the
    calendar runs a year past the day it is built, hence one file a day)."""
    xc_version = _xc_version()
    if xc_version is None:
        return None
    root = Path(os.environ.get("EVENTSTUDY_CACHE", Path.home() / ".cache" / "eventstudy"))
    rule = "_".join(str(x).replace("/", "-").replace(":", "") for x in
                    (calendar, close_time, close_tz, CALENDAR_START.date()))
    today = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    return root / "calendars" / xc_version / f"{rule}-{today}.parquet"


def known_calendar(calendar: str, close_time: str | None = None,
                   close_tz: str | None = None) -> bool:
    """Whether this version of exchange_calendars is known to have the code `calendar`: today's
    session table of this close rule is stored, or one of the code was stored before (its
    mark in <calendars>/codes/). The config's check then needs no import of it (~60 ms)."""
    try:
        path = _closes_file(calendar, close_time, close_tz)
        return path is not None and (path.is_file() or _code_mark(calendar, path).is_file())
    except Exception:  # noqa: BLE001 - no answer: the full check runs
        return False


def _code_mark(calendar: str, table: Path) -> Path:
    from urllib.parse import quote
    return table.parent / "codes" / quote(calendar, safe="")


@lru_cache(maxsize=1)
def _xc_version() -> str | None:
    """From the name of its dist-info folder (runstate.library_versions): importlib.metadata
    would import the email package and parse the METADATA file (~15 ms of a short run)."""
    try:
        from eventstudy.runstate import library_versions
        version = library_versions(("exchange_calendars",))[0].split("==", 1)[1]
        return None if version == "?" else version
    except Exception:  # noqa: BLE001 - no version known: no cache
        return None


def _stored_closes(calendar, close_time, close_tz) -> pd.Series | None:
    """The stored table, or None (none yet, unreadable, or not the shape we write)."""
    path = _closes_file(calendar, close_time, close_tz)
    if path is None or not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq     # one file: ParquetFile, not read_table's dataset layer
        frame = pq.ParquetFile(path).read().to_pandas()
        closes = pd.Series(pd.DatetimeIndex(frame["close_utc"]).tz_convert("UTC").as_unit("ns"),
                           index=pd.DatetimeIndex(frame["date"].to_numpy()).as_unit("ns"),
                           name="close_utc")
        if not closes.index.is_monotonic_increasing or closes.isna().any():
            return None
        return closes.astype("datetime64[ns, UTC]")
    except Exception:  # noqa: BLE001 - a bad cache file is no cache
        return None


def _store_closes(closes: pd.Series, calendar, close_time, close_tz) -> None:
    """Best effort (atomic; a cache that cannot be written is no cache)."""
    path = _closes_file(calendar, close_time, close_tz)
    if path is None:
        return
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from eventstudy.atomic import atomic_path
        table = pa.Table.from_pandas(pd.DataFrame({"date": closes.index,
                                                   "close_utc": closes.array}),
                                     preserve_index=False)
        zone = str(_calendar(calendar).tz)          # built already: the closes came from it
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"eventstudy.zone": zone.encode()})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        mark = _code_mark(calendar, path)      # (see known_calendar)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
    except Exception:  # noqa: BLE001
        pass


def _build_closes(calendar: str, close_time: str | None, close_tz: str | None) -> pd.Series:
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
