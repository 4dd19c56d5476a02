"""A parquet cache of price frames, one file per ticker, updated incrementally.

Why: a study re-runs often and Yahoo rate-limits, so we keep what we fetched and ask only for
the dates we lack. The cache is a convenience, never an authority: a file that does not read
back as a valid price frame is moved aside (kept for inspection) and refetched, and writes
are atomic so a crash leaves the previous file. Each file covers one contiguous span of dates
(`first`..`last` in its metadata), so "what is missing" is only ever a head and a tail.

Known limit: closes are dividend-adjusted as of the day they were fetched. When a dividend
goes ex after a ticker was cached, older cached rows keep the old adjustment and the return
across the seam is a price return. Delete the file to refetch it whole.
"""
from __future__ import annotations

import datetime as dt
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eventstudy.atomic import atomic_path
from eventstudy.data import PRICE_COLUMNS, as_date, one_line, ticker_filename
from eventstudy.errors import DataError

_META_KEYS = ("fetched_at", "first", "last", "source")

Fetch = Callable[[str, dt.date, dt.date], pd.DataFrame]


class CacheCorruptWarning(UserWarning):
    """A cache file was unreadable or invalid and has been moved aside."""


class PriceCache:
    """Price frames under `root`, one ``<ticker_filename(ticker)>.parquet`` per ticker."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, ticker: str) -> Path:
        return self.root / f"{ticker_filename(ticker)}.parquet"

    # -- reading -------------------------------------------------------------------------
    def read(self, ticker: str) -> pd.DataFrame | None:
        """The cached frame, or None if there is none (or it was invalid and moved aside)."""
        loaded = self._load(ticker)
        return None if loaded is None else loaded[0]

    def meta(self, ticker: str) -> dict | None:
        """{fetched_at: aware UTC datetime, first: date, last: date, source: str}, or None.

        `fetched_at` is when the bar at `last` was fetched, so a bar fetched on its own
        session day (possibly not yet final) can be recognised and fetched again.
        """
        loaded = self._load(ticker)
        return None if loaded is None else loaded[1]

    def _load(self, ticker: str) -> tuple[pd.DataFrame, dict] | None:
        path = self.path(ticker)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            meta = _decode_meta(table.schema.metadata)
            frame, problem = _validate(table.to_pandas())
            if problem is None and (meta["first"] != frame["date"].iloc[0].date()
                                    or meta["last"] != frame["date"].iloc[-1].date()):
                problem = "metadata first/last do not match its rows"
        except Exception as exc:  # any failure to read back means: do not trust it
            problem = f"unreadable ({one_line(exc)})"
        if problem is not None:
            self._quarantine(path, problem)
            return None
        return frame, meta

    def _quarantine(self, path: Path, problem: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        os.replace(path, aside)
        warnings.warn(f"price cache {path}: {problem}; moved aside to {aside.name}",
                      CacheCorruptWarning, stacklevel=4)

    # -- writing -------------------------------------------------------------------------
    def write(self, ticker: str, frame: pd.DataFrame, *, source: str = "unknown",
              fetched_at: dt.datetime | None = None) -> None:
        """Replace the ticker's file atomically with `frame` (a valid, non-empty price frame)."""
        frame, problem = _validate(frame)
        if problem is not None:
            raise ValueError(f"refusing to cache {ticker}: {problem}")
        fetched_at = fetched_at or dt.datetime.now(dt.timezone.utc)
        if fetched_at.tzinfo is None:
            raise ValueError("fetched_at must be time zone-aware")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        ours = {
            "fetched_at": fetched_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
            "first": frame["date"].iloc[0].date().isoformat(),
            "last": frame["date"].iloc[-1].date().isoformat(),
            "source": source,
        }
        metadata = dict(table.schema.metadata or {})
        metadata.update({k.encode(): v.encode() for k, v in ours.items()})
        table = table.replace_schema_metadata(metadata)
        with atomic_path(self.path(ticker)) as tmp:
            pq.write_table(table, tmp)

    # -- incremental update --------------------------------------------------------------
    def update(self, ticker: str, fetch: Fetch, start: dt.date, end: dt.date, *,
               today: dt.date | None = None, source: str | None = None) -> pd.DataFrame:
        """Prices of `ticker` for [start, end], fetching only what the cache lacks.

        `fetch(ticker, start, end)` (normally `fetch_yahoo`) is asked for the head before
        the cached first date (up to and including that date, so the request is never a
        span without sessions) and for the tail from the cached last date itself (so a
        provisional last bar gets corrected) up to `end`, capped at `today` (UTC date by
        default): there are no bars from the future to ask for. Fetched rows win on dates
        they share with the cache, but cached rows are never deleted. If any fetch raises,
        the file is left untouched and the error propagates. `source` is recorded in the
        file (default: the one already recorded, else the fetch function's name).
        """
        start, end = as_date(start), as_date(end)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        today = today or dt.datetime.now(dt.timezone.utc).date()
        loaded = self._load(ticker)
        if source is None:
            named = getattr(fetch, "func", fetch)          # see through functools.partial
            source = loaded[1]["source"] if loaded else getattr(named, "__name__", type(named).__name__)

        if loaded is None:
            merged = self._fetch(fetch, ticker, start, max(start, min(end, today)))
            fetched_at = dt.datetime.now(dt.timezone.utc)
        else:
            cached, meta = loaded
            first, last = meta["first"], meta["last"]
            # A bar fetched on (or before) its own session date may be intraday, not final.
            provisional = meta["fetched_at"].date() <= last
            upto = min(end, today)
            pieces = []
            if start < first:
                pieces.append(self._fetch(fetch, ticker, start, first))
            fetched_at = meta["fetched_at"]
            if upto > last or (upto == last and provisional):
                pieces.append(self._fetch(fetch, ticker, last, upto))
                fetched_at = dt.datetime.now(dt.timezone.utc)
            if not pieces:
                return _between(cached, start, end)
            merged = (pd.concat([cached, *pieces], ignore_index=True)
                      .drop_duplicates("date", keep="last")
                      .sort_values("date", ignore_index=True))
        self.write(ticker, merged, source=source, fetched_at=fetched_at)
        return _between(merged, start, end)

    @staticmethod
    def _fetch(fetch: Fetch, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        frame, problem = _validate(fetch(ticker, start, end))
        if problem is not None:
            raise DataError(f"{ticker}: fetched prices {start}..{end} are invalid: {problem}")
        return frame


def _between(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    inside = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
    return frame[inside].reset_index(drop=True)


def _validate(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """(frame with date as datetime64[ns], None) if it is a valid price frame, else (frame, why)."""
    if not isinstance(frame, pd.DataFrame):
        return frame, f"not a DataFrame but {type(frame).__name__}"
    if list(frame.columns) != PRICE_COLUMNS:
        return frame, f"columns {list(frame.columns)}, expected {PRICE_COLUMNS}"
    date, close = frame["date"], frame["close"]
    if not (pd.api.types.is_datetime64_dtype(date.dtype) and getattr(date.dtype, "tz", None) is None):
        return frame, f"date has dtype {date.dtype}, expected naive datetime64"
    if close.dtype != np.float64:
        return frame, f"close has dtype {close.dtype}, expected float64"
    if frame.empty:
        return frame, "no rows"
    if date.isna().any():
        return frame, "missing dates"
    if date.duplicated().any():
        return frame, f"duplicate dates ({date[date.duplicated()].dt.date.iloc[0]})"
    if not date.is_monotonic_increasing:
        return frame, "dates not sorted"
    if (date != date.dt.normalize()).any():
        return frame, "dates with a time of day"
    values = close.to_numpy()
    if not np.isfinite(values).all():
        return frame, "non-finite closes"
    if (values <= 0).any():
        return frame, "closes not positive"
    frame = frame.reset_index(drop=True)
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame, None


def _decode_meta(raw: dict | None) -> dict:
    raw = {k.decode(): v.decode() for k, v in (raw or {}).items()}
    missing = [k for k in _META_KEYS if k not in raw]
    if missing:
        raise ValueError(f"metadata lacks {', '.join(missing)}")
    fetched_at = dt.datetime.fromisoformat(raw["fetched_at"])
    if fetched_at.tzinfo is None:
        raise ValueError("metadata fetched_at is naive")
    return {"fetched_at": fetched_at.astimezone(dt.timezone.utc),
            "first": dt.date.fromisoformat(raw["first"]),
            "last": dt.date.fromisoformat(raw["last"]),
            "source": raw["source"]}




