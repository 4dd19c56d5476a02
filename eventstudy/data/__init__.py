"""Market data: sources (Yahoo, local CSV, bundled sample), the parquet cache, and price loading.

Every price frame in this package has the same shape: columns ``date`` (naive datetime64,
the session date in the series' own calendar) and ``close`` (float, adjusted close),
sorted by date, one row per date.
"""
from __future__ import annotations

import datetime as dt
import re

PRICE_COLUMNS = ["date", "close"]


def ticker_filename(ticker: str) -> str:
    """A file-system-safe stem for a ticker: '^N225' -> '_N225', 'JPY=X' -> 'JPY=X'."""
    return ticker.replace("^", "_").replace("/", "_")


def vendor_of(key: str) -> str:
    """The vendor a cache key names (config's `vendor_key`): 'fred-DEXJPUS' is FRED, else Yahoo."""
    return "fred" if key.startswith("fred-") else "yahoo"


def as_date(value) -> dt.date:
    """A date from a date or an ISO string; a datetime is refused (its time would be lost)."""
    if isinstance(value, dt.datetime):
        raise TypeError(f"expected a date, got the datetime {value!r}")
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def one_line(exc: Exception, limit: int = 160) -> str:
    """An exception as one short line, for error messages that must stay one line."""
    text = re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
