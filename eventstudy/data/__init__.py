"""Market data: sources (Yahoo, local CSV, bundled sample), the parquet cache, and price loading.

Every price frame in this package has the same shape: columns ``date`` (naive datetime64,
the session date in the series' own calendar) and ``close`` (float, adjusted close),
sorted by date, one row per date.
"""
from __future__ import annotations

PRICE_COLUMNS = ["date", "close"]


def ticker_filename(ticker: str) -> str:
    """A file-system-safe stem for a ticker: '^N225' -> '_N225', 'JPY=X' -> 'JPY=X'."""
    return ticker.replace("^", "_").replace("/", "_")
