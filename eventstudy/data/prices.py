"""Prices for one series, from wherever they can be had: Yahoo through the cache, a local CSV,
or the bundled real sample when neither the cache nor the network has anything."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.config import SeriesConfig
from eventstudy.data import ticker_filename
from eventstudy.errors import DataError, InputError, NetworkError


@dataclass(frozen=True)
class Provenance:
    """Where a series' prices came from, for the report and for reproducibility."""
    series: str
    ticker: str
    origin: str          # "yahoo", "cache", "sample" or "csv"
    location: str        # URL-ish, file path, or package path
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    rows: int
    as_of: str           # when the data was fetched / the sample built


def sample_path(ticker: str) -> Path | None:
    path = resources.files("eventstudy").joinpath("data", "sample",
                                                  f"{ticker_filename(ticker)}.csv")
    return Path(str(path)) if path.is_file() else None


def load_sample(ticker: str) -> pd.DataFrame | None:
    """The bundled real prices for a Yahoo ticker, or None if the sample does not have it."""
    path = sample_path(ticker)
    if path is None:
        return None
    return read_price_csv(path, date_column="date", column="close")


def read_price_csv(path: str | Path, *, date_column: str = "date", column: str = "close",
                   ) -> pd.DataFrame:
    """A CSV of prices, checked row by row: a bad price is an error naming its row, never a gap."""
    path = Path(path)
    name = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("price file not found", file=name) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed CSV: {str(exc).splitlines()[0]}", file=name) from None
    for col in (date_column, column):
        if col not in raw.columns:
            raise InputError(f"missing column {col!r} (found: {', '.join(raw.columns)})",
                             file=name, row=1, field=col)
    if raw.empty:
        raise InputError("no prices (only a header)", file=name)
    dates = pd.to_datetime(raw[date_column].str.strip(), format="ISO8601", errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"cannot parse date {raw[date_column].iloc[i]!r}", file=name,
                         row=i + 2, field=date_column)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    closes = pd.to_numeric(raw[column].str.strip(), errors="coerce")
    bad = ~(np.isfinite(closes.to_numpy(dtype=float)) & (closes.to_numpy(dtype=float) > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"price {raw[column].iloc[i]!r} is not a positive number", file=name,
                         row=i + 2, field=column)
    dup = dates.duplicated().to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise InputError(f"date {dates.iloc[i]:%Y-%m-%d} appears twice", file=name, row=i + 2,
                         field=date_column)
    frame = pd.DataFrame({"date": dates.dt.normalize().astype("datetime64[ns]"),
                          "close": closes.astype("float64")})
    return frame.sort_values("date").reset_index(drop=True)


def load_series_prices(series: SeriesConfig, *, offline: bool, cache=None, fetch=None,
                       start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                       ) -> tuple[pd.DataFrame, Provenance, str | None]:
    """Prices of one series and where they came from; the third item is a warning or None.

    Yahoo series: online, the cache is brought up to date (only the missing range is asked
    for); if that fails, the cache as it is, then the bundled sample, with one warning.
    Offline: the cache, else the sample. A CSV series is read from its file.
    """
    if series.source == "csv":
        frame = read_price_csv(series.path, date_column=series.date_column,
                               column=series.column)
        return frame, _provenance(series, frame, "csv", series.path, "file"), None

    ticker = series.ticker
    warning = None
    if not offline and cache is not None and fetch is not None:
        try:
            frame = cache.update(ticker, fetch, start.date(), end.date())
            meta = cache.meta(ticker) or {}
            if len(frame):
                return frame, _provenance(series, frame, "yahoo", f"Yahoo {ticker}",
                                          meta.get("fetched_at", "")), None
        except NetworkError:
            raise
        except DataError as exc:
            warning = f"{exc}; using cached or bundled data for {series.id}"
    if cache is not None:
        frame = cache.read(ticker)
        if frame is not None and len(frame):
            meta = cache.meta(ticker) or {}
            return frame, _provenance(series, frame, "cache", str(cache.path(ticker))
                                      if hasattr(cache, "path") else "cache",
                                      meta.get("fetched_at", "")), warning
    frame = load_sample(ticker)
    if frame is None:
        raise DataError(f"no prices for {series.id} ({ticker}): not in the cache, "
                        f"{'offline' if offline else 'Yahoo failed'}, and not in the bundled "
                        "sample")
    return frame, _provenance(series, frame, "sample", f"eventstudy/data/sample/"
                              f"{ticker_filename(ticker)}.csv", "bundled sample"), warning


def _provenance(series: SeriesConfig, frame: pd.DataFrame, origin: str, location: str,
                as_of: str) -> Provenance:
    return Provenance(series=series.id, ticker=series.ticker or "", origin=origin,
                      location=str(location),
                      first=frame["date"].iloc[0] if len(frame) else None,
                      last=frame["date"].iloc[-1] if len(frame) else None,
                      rows=len(frame), as_of=str(as_of))
