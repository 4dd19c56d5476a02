"""A parquet cache of price frames, one file per ticker, updated incrementally.

Why: a study re-runs often and Yahoo rate-limits, so we keep what we fetched and ask only for
the dates we lack. The cache is a convenience, never an authority: a file that does not read
back as a valid price frame, or that holds another ticker's prices, is moved aside (kept for
inspection) and refetched, and writes are atomic so a crash leaves the previous file. Each
file covers one contiguous span of dates (`first`..`last` in its metadata), so "what is
missing" is a head, a tail, and the sessions the vendor left out inside the span (asked for
again once per run, when the caller says which sessions to expect).

Each file's parquet metadata holds (all UTF-8 strings): `fetched_at` (ISO, UTC), `first`,
`last` (ISO dates), `source` (what fetched it), `ticker` (the cache key it was written for,
e.g. '^N225' or 'fred-DEXJPUS') and `vendor` ('yahoo' or 'fred'). Files written before
`ticker` existed are "unverified": refetched whole when online, used with a warning offline.

Vendors re-base adjusted histories (a split, a dividend, a correction): every fetch overlaps
the cache by at least one final bar, and if an overlapping close moved by more than
`REBASE_TOLERANCE` (relative) the whole history is fetched again and replaces the file, so old
and new bases are never mixed.
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
from eventstudy.data import PRICE_COLUMNS, as_date, one_line, ticker_filename, vendor_of
from eventstudy.errors import DataError, NetworkError

_META_KEYS = ("fetched_at", "first", "last", "source")   # required; ticker, vendor since #11

# Relative change of a re-served close that counts as a re-based history. Yahoo re-serves the
# same float32-rounded values run after run (identical to ~6e-8); the smallest real
# adjustment, a 0.01 % dividend, is 1e-4. 1e-6 sits between the two with room on both sides.
REBASE_TOLERANCE = 1e-6

Fetch = Callable[[str, dt.date, dt.date], pd.DataFrame]


class CacheCorruptWarning(UserWarning):
    """A cache file could not be trusted as it stood: unreadable, invalid or another ticker's
    (moved aside), or one of the subclasses below. The message says what was done."""


class CacheRebasedWarning(CacheCorruptWarning):
    """The vendor's history changed since it was cached; the whole history was fetched again."""


class CacheUnverifiedWarning(CacheCorruptWarning):
    """A file from before tickers were recorded, used as it is (offline, or the vendor failed)."""


class PriceCache:
    """Price frames under `root`, one ``<ticker_filename(ticker)>.parquet`` per ticker."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._refilled: set[str] = set()     # tickers whose holes were asked for in this run
        self._warned: set[str] = set()       # tickers already warned about as unverified

    def path(self, ticker: str) -> Path:
        return self.root / f"{ticker_filename(ticker)}.parquet"

    # -- reading -------------------------------------------------------------------------
    def read(self, ticker: str) -> pd.DataFrame | None:
        """The cached frame, or None if there is none (or it was invalid and moved aside)."""
        loaded = self._load(ticker)
        return None if loaded is None else loaded[0]

    def meta(self, ticker: str) -> dict | None:
        """{fetched_at: aware UTC datetime, first: date, last: date, source: str,
        ticker: str | None, vendor: str | None} (None: written by an older version), or None.

        `fetched_at` is when the bar at `last` was fetched, so a bar fetched on its own
        session day (possibly not yet final) can be recognised and fetched again.
        """
        loaded = self._load(ticker)
        return None if loaded is None else loaded[1]

    def _load(self, ticker: str, *, warn_unverified: bool = True,
              ) -> tuple[pd.DataFrame, dict] | None:
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
        if problem is None:
            problem = _identity_problem(meta, ticker)
        if problem is not None:
            self._quarantine(path, problem)
            return None
        if meta["ticker"] is None and warn_unverified and ticker not in self._warned:
            self._warned.add(ticker)
            warnings.warn(f"price cache {path}: written by an older version without its ticker, "
                          f"so it cannot be checked to hold {ticker}; used as it is (the next "
                          "online run fetches it again whole)", CacheUnverifiedWarning,
                          stacklevel=4)
        return frame, meta

    def _quarantine(self, path: Path, problem: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        os.replace(path, aside)
        warnings.warn(f"price cache {path}: {problem}; moved aside to {aside.name}",
                      CacheCorruptWarning, stacklevel=4)

    # -- writing -------------------------------------------------------------------------
    def write(self, ticker: str, frame: pd.DataFrame, *, source: str | None = None,
              fetched_at: dt.datetime | None = None) -> None:
        """Replace the ticker's file atomically with `frame` (a valid, non-empty price frame).

        The file records `ticker` and the vendor it names (`vendor_of`), so a file copied
        under another ticker's name is refused on reading.
        """
        frame, problem = _validate(frame)
        if problem is not None:
            raise ValueError(f"refusing to cache {ticker}: {problem}")
        fetched_at = fetched_at or dt.datetime.now(dt.timezone.utc)
        if fetched_at.tzinfo is None:
            raise ValueError("fetched_at must be time zone-aware")
        vendor = vendor_of(ticker)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        ours = {
            "fetched_at": fetched_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
            "first": frame["date"].iloc[0].date().isoformat(),
            "last": frame["date"].iloc[-1].date().isoformat(),
            "source": source or vendor,
            "ticker": ticker,
            "vendor": vendor,
        }
        metadata = dict(table.schema.metadata or {})
        metadata.update({k.encode(): v.encode() for k, v in ours.items()})
        table = table.replace_schema_metadata(metadata)
        with atomic_path(self.path(ticker)) as tmp:
            pq.write_table(table, tmp)

    # -- incremental update --------------------------------------------------------------
    def update(self, ticker: str, fetch: Fetch, start: dt.date, end: dt.date, *,
               today: dt.date | None = None, source: str | None = None,
               sessions=None) -> pd.DataFrame:
        """Prices of `ticker` for [start, end], fetching only what the cache lacks.

        `fetch(ticker, start, end)` (normally `fetch_yahoo`) is asked for the head before
        the cached first date (up to and including that date, so the request is never a
        span without sessions) and for the tail from the cached last date itself (so a
        provisional last bar gets corrected; from the bar before it when the last bar was
        fetched on its own session day, so a final bar is always re-served) up to `end`,
        capped at `today` (UTC date by default): there are no bars from the future to ask
        for. `sessions` (optional, the dates the series' calendar trades) names holes: the
        cached span's sessions in [start, end] the vendor left out are asked for again, once
        per run (per PriceCache), in one request; a vendor still lacking them is not an error.

        Every re-served bar is compared with the cache: a close that moved by more than
        `REBASE_TOLERANCE` means the vendor re-based its history, so the whole span is
        fetched again and replaces the file (one `CacheRebasedWarning`). Otherwise fetched
        rows win on dates they share with the cache, and cached rows are never deleted. A
        file from before tickers were recorded is fetched again whole. If a fetch raises,
        the file is left untouched and the error propagates. `source` is recorded in the
        file (default: the one already recorded, else the fetch function's name).
        """
        start, end = as_date(start), as_date(end)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        today = today or dt.datetime.now(dt.timezone.utc).date()
        upto = min(end, today)
        loaded = self._load(ticker, warn_unverified=False)
        since = start
        if loaded is not None and loaded[1]["ticker"] is None:   # unverified: refetch whole
            since = min(start, loaded[1]["first"])
            loaded = None
        if source is None:
            named = getattr(fetch, "func", fetch)          # see through functools.partial
            name = getattr(named, "__name__", type(named).__name__)
            source = loaded[1]["source"] if loaded else (None if name == "<lambda>" else name)

        if loaded is None:
            merged = self._fetch(fetch, ticker, since, max(since, upto))
            self.write(ticker, merged, source=source)
            return _between(merged, start, end)

        cached, meta = loaded
        first, last = meta["first"], meta["last"]
        # A bar fetched on (or before) its own session date may be intraday, not final.
        provisional = meta["fetched_at"].date() <= last
        pieces, fetched_at = [], meta["fetched_at"]
        if start < first:
            pieces.append(self._fetch(fetch, ticker, start, first))
        if upto > last or (upto == last and provisional):
            before = cached["date"].iloc[-2].date() if provisional and len(cached) > 1 else last
            pieces.append(self._fetch(fetch, ticker, before, max(upto, last)))
            fetched_at = dt.datetime.now(dt.timezone.utc)
        holes = self._holes(ticker, cached, sessions, start, upto)
        if len(holes):
            try:
                pieces.append(self._fetch(fetch, ticker, holes[0].date(), holes[-1].date()))
            except NetworkError:
                raise
            except DataError:        # the vendor still lacks them: they stay gaps
                pass
        if not pieces:
            return _between(cached, start, end)

        moved = _moved(cached, pieces, skip=last if provisional else None)
        if moved is not None:
            span = (min(start, first), max(upto, last))
            merged = self._fetch(fetch, ticker, *span)
            date, old, new = moved
            warnings.warn(f"price cache {self.path(ticker)}: the vendor's close of {ticker} on "
                          f"{date:%Y-%m-%d} is now {new:.6g}, cached {old:.6g} (x{new / old:.4g}): "
                          "its history was re-based since it was cached (a split, a dividend "
                          f"or a correction); fetched the whole history {span[0]}..{span[1]} "
                          "again", CacheRebasedWarning, stacklevel=2)
            fetched_at = dt.datetime.now(dt.timezone.utc)
        else:
            merged = (pd.concat([cached, *pieces], ignore_index=True)
                      .drop_duplicates("date", keep="last")
                      .sort_values("date", ignore_index=True))
            if merged.equals(cached) and fetched_at == meta["fetched_at"]:
                return _between(cached, start, end)         # nothing new: leave the file
        self.write(ticker, merged, source=source, fetched_at=fetched_at)
        return _between(merged, start, end)

    def _holes(self, ticker: str, cached: pd.DataFrame, sessions, start: dt.date,
               upto: dt.date) -> pd.DatetimeIndex:
        """Sessions in the cached span and in [start, upto] that the cache lacks (once a run)."""
        if sessions is None or ticker in self._refilled:
            return pd.DatetimeIndex([])
        days = pd.DatetimeIndex(sessions)
        days = (days.tz_localize(None) if days.tz is not None else days).normalize()
        lo = max(pd.Timestamp(start), cached["date"].iloc[0])
        hi = min(pd.Timestamp(upto), cached["date"].iloc[-1])
        wanted = days[(days >= lo) & (days <= hi)]
        missing = wanted[~wanted.isin(cached["date"])].sort_values()
        if len(missing):
            self._refilled.add(ticker)
        return missing

    @staticmethod
    def _fetch(fetch: Fetch, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        frame, problem = _validate(fetch(ticker, start, end))
        if problem is not None:
            raise DataError(f"{ticker}: fetched prices {start}..{end} are invalid: {problem}")
        return frame


def _between(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    inside = (frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))
    return frame[inside].reset_index(drop=True)


def _moved(cached: pd.DataFrame, pieces: list[pd.DataFrame], skip: dt.date | None,
           ) -> tuple[pd.Timestamp, float, float] | None:
    """(date, cached close, fetched close) of the first re-served bar that moved, or None.

    `skip`: a provisional bar, expected to change.
    """
    fetched = pd.concat(pieces, ignore_index=True).drop_duplicates("date", keep="last")
    both = cached.merge(fetched, on="date", suffixes=("_old", "_new"))
    if skip is not None:
        both = both[both["date"] != pd.Timestamp(skip)]
    ratio = both["close_new"].to_numpy() / both["close_old"].to_numpy()
    moved = np.abs(ratio - 1.0) > REBASE_TOLERANCE
    if not moved.any():
        return None
    row = both.iloc[int(np.argmax(moved))]
    return row["date"], float(row["close_old"]), float(row["close_new"])


def _identity_problem(meta: dict, ticker: str) -> str | None:
    """Why a file's recorded ticker/vendor rule it out for `ticker`, or None."""
    if meta["ticker"] is not None and meta["ticker"] != ticker:
        return f"holds the prices of {meta['ticker']}, not of {ticker}"
    if meta["vendor"] is not None and meta["vendor"] != vendor_of(ticker):
        return f"holds {meta['vendor']} prices, not {vendor_of(ticker)} ones"
    return None


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
            "source": raw["source"],
            "ticker": raw.get("ticker"),
            "vendor": raw.get("vendor")}




