"""Prices for one series, from wherever they can be had: Yahoo through the cache, a local CSV,
or the bundled real sample when neither the cache nor the network has anything."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.calendars import session_closes
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
    """A CSV of prices, checked row by row: a bad price is an error naming its row, never a gap.

    Rows are counted as in a spreadsheet (header = row 1). Refused: a malformed CSV, a date
    that does not parse or appears twice, a price that is missing, not a number, zero or
    negative, and a file whose prices are all equal (constant returns: a stale or wrong
    column, not a market). Rows may come in any order; they are sorted by date.
    """
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("price file not found", file=name) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a price file", file=name) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} (save it as CSV UTF-8)",
                         file=name, row=raw[:exc.start].count(b"\n") + 1) from None
    if "\x00" in text:
        raise InputError("NUL characters: not a text CSV (UTF-16? save it as CSV UTF-8)",
                         file=name, row=text[:text.index("\x00")].count("\n") + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)          # (what was read before an error stays: its row)
    except csv.Error as exc:
        why = ("unbalanced quote: a quoted field starts on this row and never ends"
               if "unexpected end of data" in str(exc) else f"malformed CSV: {exc}")
        raise InputError(why, file=name, row=len(records) + 1) from None
    if not records:
        raise InputError(f"empty file: expected a header row ({date_column},{column})",
                         file=name)
    header = [h.strip() for h in records[0]]
    for col in (date_column, column):
        if col not in header:
            raise InputError(f"missing column {col!r} (found: {', '.join(header)})",
                             file=name, row=1, field=col)
    i_date, i_close = header.index(date_column), header.index(column)
    # per row, but in C (map/itemgetter; a Python loop was a third of reading a price file):
    # rows that are all blank are skipped, the others must have the header's width
    body = records[1:]
    kept = np.fromiter(map(bool, map(str.strip, map("".join, body))), bool, len(body))
    rows = np.flatnonzero(kept) + 2                 # spreadsheet row numbers (header = 1)
    if not kept.all():
        body = [cells for cells, keep in zip(body, kept) if keep]
    widths = np.fromiter(map(len, body), int, len(body))
    if (widths != len(header)).any():
        i = int(np.argmax(widths != len(header)))
        raise InputError(f"{widths[i]} fields where the header has {len(header)}",
                         file=name, row=int(rows[i]))
    if not len(rows):
        raise InputError("no prices (only a header)", file=name)
    date_text = list(map(str.strip, map(itemgetter(i_date), body)))
    close_text = list(map(str.strip, map(itemgetter(i_close), body)))
    dates = pd.to_datetime(pd.Series(date_text, dtype=object), format="ISO8601",
                           errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"cannot parse date {date_text[i]!r} (expected YYYY-MM-DD)",
                         file=name, row=int(rows[i]), field=date_column)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    closes = pd.to_numeric(pd.Series(close_text, dtype=object), errors="coerce")
    values = closes.to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"price {close_text[i]!r} is not a positive number", file=name,
                         row=int(rows[i]), field=column)
    days = dates.dt.normalize()
    dup = days.duplicated().to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(rows[int(np.argmax((days == days.iloc[i]).to_numpy()))])
        raise InputError(f"date {days.iloc[i]:%Y-%m-%d} appears twice (first on row {first})",
                         file=name, row=int(rows[i]), field=date_column)
    if len(values) > 1 and (values == values[0]).all():
        raise InputError(f"all {len(values)} prices are {close_text[0]}: constant returns, "
                         "nothing to study (a stale feed or the wrong column?)", file=name,
                         field=column)
    frame = pd.DataFrame({"date": days.astype("datetime64[ns]"),
                          "close": values.astype("float64")})
    return frame.sort_values("date").reset_index(drop=True)


VENDORS = {"yahoo": "Yahoo", "fred": "FRED"}


def load_series_prices(series: SeriesConfig, *, offline: bool, cache=None, fetch=None,
                       start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                       ) -> tuple[pd.DataFrame, Provenance, str | None]:
    """Prices of one series and where they came from; the third item is a warning or None.

    Vendor series (Yahoo, FRED): online, the cache is brought up to date (only the missing
    range is asked for) with `fetch(vendor_id, start, end)`; if that fails, the cache as it
    is, then the bundled sample, with one warning. Offline: the cache, else the sample.
    A CSV series is read from its file.
    """
    if series.source == "csv":
        frame = read_price_csv(series.path, date_column=series.date_column,
                               column=series.column)
        return frame, _provenance(series, frame, "csv", series.path, "file"), None

    key, vendor = series.vendor_key, VENDORS[series.source]
    warning = None
    if not offline and cache is not None and fetch is not None:
        try:
            frame = cache.update(key, lambda _, a, b: fetch(series.ticker, a, b), start.date(),
                                 end.date(), sessions=session_closes(series).index)
            meta = cache.meta(key) or {}
            if len(frame):
                return frame, _provenance(series, frame, series.source,
                                          f"{vendor} {series.ticker}",
                                          meta.get("fetched_at", "")), None
        except NetworkError:
            raise
        except DataError as exc:
            warning = f"{exc}; using cached or bundled data for {series.id}"
    if cache is not None:
        frame = cache.read(key)
        if frame is not None and len(frame):
            meta = cache.meta(key) or {}
            return frame, _provenance(series, frame, "cache", str(cache.path(key))
                                      if hasattr(cache, "path") else "cache",
                                      meta.get("fetched_at", "")), warning
    frame = load_sample(key)
    if frame is None:
        raise DataError(f"no prices for {series.id} ({series.ticker}): not in the cache, "
                        f"{'offline' if offline else vendor + ' failed'}, and not in the "
                        "bundled sample")
    return frame, _provenance(series, frame, "sample", f"eventstudy/data/sample/"
                              f"{ticker_filename(key)}.csv", "bundled sample"), warning


def _provenance(series: SeriesConfig, frame: pd.DataFrame, origin: str, location: str,
                as_of: str) -> Provenance:
    return Provenance(series=series.id, ticker=series.ticker or "", origin=origin,
                      location=str(location),
                      first=frame["date"].iloc[0] if len(frame) else None,
                      last=frame["date"].iloc[-1] if len(frame) else None,
                      rows=len(frame), as_of=str(as_of))
