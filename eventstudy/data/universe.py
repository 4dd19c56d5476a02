"""A universe's closes, read once into one (dates x securities) matrix and checked.

Three layouts of local files (see UniverseConfig): a folder of one Yahoo-style CSV per
security, one wide file (a date column + one column per security; a blank cell is "no bar"),
or one long file (security, date, close). CSV or Parquet. Each file is read once, whatever the
number of securities. A Yahoo universe goes through the price cache like a series does.

Bad data is not an error here: a security whose prices cannot be had or trusted is dropped
with a row in `problems` (see data/checks.py), so one broken file never stops a study of a
thousand. Bad input the user controls (a missing folder, a securities table without a symbol
column, a `where` that fails) is an InputError naming file, row and field.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.config import UniverseConfig, apply_query
from eventstudy.data import ticker_filename
from eventstudy.data.checks import _concat, _problems, check_closes, check_long
from eventstudy.errors import DataError, InputError, NetworkError

PROVENANCE_COLUMNS = ["security", "origin", "location", "column", "first", "last", "rows"]
_DATE_NAMES = ("date", "Date", "DATE", "Datetime", "datetime")
_CLOSE_NAMES = ("Adj Close", "adj_close", "Adj_Close", "adjclose", "Close", "close", "CLOSE")
_SECURITY_NAMES = ("security", "symbol", "Security", "Symbol", "ticker", "Ticker")


@dataclass(frozen=True)
class UniverseData:
    """A loaded universe.

    securities: one row per kept security: `security` + the metadata columns, `where` applied.
    closes: index = naive, normalized, sorted, unique dates; one float64 column per security
        (same order as `securities`); NaN = no bar.
    problems: security, date (NaT: the whole series), kind, action ("skip security",
        "drop bar", "flag day", "note"), reason.
    provenance: one row per security: security, origin ("csv", "parquet", "yahoo", "cache",
        "sample"), location, column (which column held the close), first, last, rows.
    """
    id: str
    securities: pd.DataFrame
    closes: pd.DataFrame
    problems: pd.DataFrame
    provenance: pd.DataFrame


def load_universe(u: UniverseConfig, *, offline: bool = True, cache=None, fetch=None,
                  start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                  ) -> UniverseData:
    """Read, check and select a universe's securities and closes.

    `offline`, `cache`, `fetch`, `start`, `end` matter only for source = "yahoo" (as for
    `load_series_prices`)."""
    meta = read_securities(u.securities) if u.securities else None
    if meta is not None and u.where:
        meta = apply_query(meta, u.where, file=u.securities, field=f"universe.{u.id}.where")
    wide = None
    if u.source == "yahoo":
        tickers = _yahoo_tickers(u, meta)
        long, provenance, problems = _read_yahoo(u, tickers, offline=offline, cache=cache,
                                                 fetch=fetch, start=start, end=end)
    else:
        wanted = None if meta is None else list(meta["security"])
        wide = _numeric_wide(u.prices, u.layout, wanted)
        if wide is not None:     # the common case: checked as a matrix, no long round trip
            closes, provenance = wide
            problems = _problems([], [], [], [], [])
        else:
            long, provenance, problems = read_prices(u.prices, u.layout, wanted)
    checked = check_closes(closes) if u.source != "yahoo" and wide is not None \
        else check_long(long)
    closes = checked.closes
    if meta is None:
        meta = pd.DataFrame({"security": provenance["security"].astype(str)})
    missing = ~meta["security"].isin(provenance["security"])
    if missing.any():
        problems = _concat([problems, _problems(
            meta.loc[missing, "security"], [pd.NaT] * int(missing.sum()), "no prices",
            "skip security", f"no prices for it in {u.prices or 'the Yahoo tickers'}")])
    kept = meta[meta["security"].isin(closes.columns)].reset_index(drop=True)
    if not closes.columns.equals(pd.Index(kept["security"])):     # (else: no copy)
        closes = closes.loc[:, list(kept["security"])]
    closes.columns.name = None
    provenance = provenance[provenance["security"].isin(meta["security"])]
    return UniverseData(id=u.id, securities=kept, closes=closes,
                        problems=_concat([problems, checked.problems]),
                        provenance=provenance.reset_index(drop=True))


# -- the securities table ---------------------------------------------------------------------

def read_securities(path: str | Path) -> pd.DataFrame:
    """The securities table: a `symbol` (or `security`) column + metadata; one row each."""
    name = str(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("securities file not found", file=name) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a securities file", file=name) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason}): save it as CSV UTF-8",
                         file=name) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise InputError(f"cannot read as CSV: {str(exc).splitlines()[0]}", file=name) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    key = next((c for c in ("symbol", "security") if c in frame.columns), None)
    if key is None:
        raise InputError(f"missing column 'symbol' (found: {', '.join(frame.columns)})",
                         file=name, row=1, field="symbol")
    if key == "symbol" and "security" in frame.columns:
        raise InputError("both 'symbol' and 'security' columns: keep one", file=name, row=1)
    symbols = frame[key].str.strip()
    bad = (symbols == "") | symbols.str.match(r"[=+\-@]") | symbols.str.contains(
        r"[\x00-\x1f\x7f]", regex=True)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        why = ("empty symbol" if symbols.iloc[i] == "" else f"symbol {symbols.iloc[i]!r} starts "
               "with a formula character or holds a control character")
        raise InputError(why, file=name, row=i + 2, field=key)
    dup = symbols.duplicated()
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        first = int(np.argmax((symbols == symbols.iloc[i]).to_numpy()))
        raise InputError(f"duplicate symbol {symbols.iloc[i]!r} (first on row {first + 2})",
                         file=name, row=i + 2, field=key)
    frame = frame.drop(columns=[key])
    frame.insert(0, "security", symbols)
    # metadata that is all numbers becomes numeric (so `where = "export_share > 0.5"` works)
    for col in frame.columns[1:]:
        numbers = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
        if numbers.notna().sum() == (frame[col] != "").sum() and numbers.notna().any():
            frame[col] = numbers
    return frame


def _yahoo_tickers(u: UniverseConfig, meta: pd.DataFrame | None) -> list[str]:
    if u.tickers:
        tickers = list(u.tickers)
    elif u.tickers_file:
        tickers = list(read_securities(u.tickers_file)["security"])
    else:
        tickers = []
    if meta is not None:
        tickers = [t for t in tickers if t in set(meta["security"])] if tickers else list(
            meta["security"])
    return tickers


# -- local files ------------------------------------------------------------------------------

def infer_layout(path: str | Path) -> str:
    """folder for a folder; long for a file with (security|symbol, date, close) columns; else
    wide. Reads only the header (a Parquet file's schema)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    columns = _columns(path)
    lower = {c.strip().lower() for c in columns}
    if lower & {"security", "symbol"} and "date" in lower and "close" in lower:
        return "long"
    return "wide"


def _columns(path: Path) -> list[str]:
    if not path.exists():
        raise InputError("prices not found", file=str(path))
    if _is_parquet(path):
        import pyarrow.parquet as pq
        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # noqa: BLE001 - pyarrow's error types vary
            raise InputError(f"not a readable Parquet file ({type(exc).__name__})",
                             file=str(path)) from None
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return next(csv.reader([fh.readline(1 << 20)]), [])
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def read_prices(path: str | Path, layout: str | None, wanted: list[str] | None,
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(long security/date/close rows, provenance, problems) from local files; `wanted`: the
    securities to read (None: all there are)."""
    path = Path(path)
    if not path.exists():
        raise InputError("prices not found (a folder of <symbol>.csv, or a wide or long "
                         "CSV/Parquet file)", file=str(path))
    layout = layout or infer_layout(path)
    if layout == "folder":
        if not path.is_dir():
            raise InputError("layout is 'folder' but this is a file", file=str(path))
        return _read_folder(path, wanted)
    if path.is_dir():
        raise InputError(f"layout is {layout!r} but this is a folder", file=str(path))
    frame, origin = _read_table(path)
    if layout == "long":     # rows of a long file may come in any order: no note
        long = _long_from_long(frame, path).sort_values(["security", "date"], kind="stable")
    else:
        long = _long_from_wide(frame, path)
    problems = _problems([], [], [], [], [])
    if wanted is not None:
        long = long[long["security"].isin(wanted)]
    long = long.reset_index(drop=True)
    return long, _provenance(long, origin, str(path), "close"), problems


def _numeric_wide(path, layout, wanted):
    """(closes matrix, provenance) of a wide file whose price columns are all numbers, else
    None (a long file, a folder, or text cells, which `read_prices` reports one by one).

    The matrix is security-major in memory (a Fortran-ordered (dates x securities) array):
    a Parquet column is one security, and the panel and the fused kernel read a security's
    sessions contiguously (engine.slab: its rows are views, not transposed copies)."""
    path = Path(path)
    if not path.is_file() or (layout or infer_layout(path)) != "wide":
        return None
    name = str(path)
    read = _parquet_matrix(path) if _is_parquet(path) else None
    if read is not None:
        date_values, date_col, securities, values, origin = read
    else:
        frame, origin = _read_table(path)
        date_col = _pick(frame.columns, _DATE_NAMES) or frame.columns[0]
        securities = [c for c in frame.columns if c != date_col]
        # the distinct dtypes of the price columns (not one check per column: 5,000 columns)
        kinds = set(frame.dtypes.iloc[[i for i, c in enumerate(frame.columns)
                                       if c != date_col]])
        if not all(pd.api.types.is_numeric_dtype(d) for d in kinds):
            return None
        date_values = frame[date_col]
        values = frame[securities].to_numpy(dtype="float64", na_value=np.nan)
    names = [str(c).strip() for c in securities]
    dup = pd.Index(names).duplicated()
    if dup.any():
        raise InputError(f"column {names[int(np.argmax(dup))]!r} appears twice", file=name,
                         row=1)
    dates = _dates(date_values, name, str(date_col), strict=True)
    closes = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"), columns=names,
                          copy=False)
    if wanted is not None:
        closes = closes.loc[:, [c for c in names if c in set(wanted)]]
    values = closes.to_numpy()
    has = ~np.isnan(values)
    idx = closes.index
    any_bar = has.any(axis=0)
    first = np.where(any_bar, has.argmax(axis=0), 0)
    last = np.where(any_bar, len(idx) - 1 - has[::-1].argmax(axis=0), 0)
    provenance = pd.DataFrame({"security": list(closes.columns), "origin": origin,
                               "location": str(path), "column": "close",
                               "first": idx[first], "last": idx[last],
                               "rows": has.sum(axis=0)})[any_bar]
    if not any_bar.all():
        closes = closes.loc[:, any_bar]
    return closes, provenance[PROVENANCE_COLUMNS].reset_index(drop=True)


def _parquet_matrix(path: Path, batch: int = 250):
    """(date column values, its name, price column names, (dates x securities) float64
    Fortran-ordered matrix, "parquet") of a wide Parquet file whose price columns are all
    numbers: no pandas frame of 10,000 columns, and the columns read `batch` at a time into
    the matrix (arrow's buffers of one batch are reused by the next: reading the whole
    table at once touches 400 MB of fresh memory more, and fresh pages cost more than the
    read here). None for anything else (pandas' index columns, text cells, an unreadable
    file): `_read_table` reads it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        file = pq.ParquetFile(path)
        schema = file.schema_arrow
    except Exception:  # noqa: BLE001 - _read_table words the error
        return None
    cols = schema.names
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    if any(isinstance(c, str) for c in index) or len(set(cols)) != len(cols) or len(cols) < 2:
        return None         # (pandas wrote its index: `_read_table` puts it first)
    date_col = _pick(cols, _DATE_NAMES) or cols[0]
    prices = [c for c in cols if c != date_col]
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    if not all(any(ok(schema.field(c).type) for ok in numeric) for c in prices):
        return None

    def column(c):       # nulls as NaN (a float64 column without nulls: no copy)
        c = c if pa.types.is_float64(c.type) else c.cast(pa.float64())
        return c.to_numpy()
    try:
        date_values = file.read(columns=[date_col]).column(0).to_pandas()
        values = np.empty((len(prices), len(date_values)))
        for start in range(0, len(prices), batch):
            table = file.read(columns=prices[start:start + batch])
            for k in range(table.num_columns):      # one memcpy a column, no pandas object
                values[start + k] = column(table.column(k))
            del table
    except (pa.ArrowException, OSError, ValueError, TypeError):   # (an integer past 2**53)
        return None
    return date_values, date_col, prices, values.T, "parquet"


def _read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """One read of a whole CSV or Parquet file; every column as text or numbers."""
    name = str(path)
    try:
        if _is_parquet(path):
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):   # pandas wrote its date index
                frame = frame.reset_index()
            return frame, "parquet"
        return pd.read_csv(path, engine="pyarrow", encoding="utf-8"), "csv"
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many types
        if not _is_parquet(path):
            try:    # the C parser reads what pyarrow refuses (e.g. a BOM, ragged rows)
                return pd.read_csv(path, dtype=str, keep_default_na=False,
                                   encoding="utf-8-sig"), "csv"
            except Exception as exc2:  # noqa: BLE001
                exc = exc2
        raise InputError(f"cannot read: {str(exc).splitlines()[0][:200]}", file=name) from None


def _pick(columns, names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in columns:
            return n
    lower = {str(c).strip().lower(): c for c in columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _dates(values, name: str, field: str, strict: bool) -> np.ndarray:
    """Session dates from text or timestamps: the leading YYYY-MM-DD is the session's own date
    (a vendor's '2025-04-03 00:00:00+09:00' is April 3 in Tokyo, not April 2 in UTC)."""
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series.dt.tz_localize(None) if series.dt.tz is not None else series
        return out.dt.normalize().to_numpy(dtype="datetime64[ns]")
    text = series.astype("string").str.strip().str[:10]
    out = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if strict and out.isna().any():
        i = int(np.argmax(out.isna().to_numpy()))
        raise InputError(f"cannot parse date {str(series.iloc[i])!r} (expected YYYY-MM-DD)",
                         file=name, row=i + 2, field=field)
    return out.to_numpy(dtype="datetime64[ns]")


def _numbers(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(values).replace("", np.nan), errors="coerce").to_numpy(
        dtype="float64")


def _long_from_wide(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A wide frame (a date column + one column per security) as long rows; blank = no bar."""
    name = str(path)
    date_col = _pick(frame.columns, _DATE_NAMES) or frame.columns[0]
    dates = _dates(frame[date_col], name, str(date_col), strict=True)
    securities = [c for c in frame.columns if c != date_col]
    dup = pd.Index([str(c).strip() for c in securities]).duplicated()
    if dup.any():
        raise InputError(f"column {str(securities[int(np.argmax(dup))]).strip()!r} appears "
                         "twice", file=name, row=1)
    values = frame[securities].to_numpy(dtype="float64", na_value=np.nan, copy=True) if all(
        pd.api.types.is_numeric_dtype(frame[c]) for c in securities) else np.column_stack(
        [_numbers(frame[c]) for c in securities] or [np.empty(len(frame))])[:, :len(securities)]
    present = ~np.isnan(values)
    r, c = np.nonzero(present)
    # a cell that is not blank but not a number is a missing price (reported), not "no bar"
    text_cells = []
    for j, col in enumerate(securities):     # only text columns: rare, a damaged file
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raw = frame[col].astype("string").str.strip()
            bad = (raw.notna() & (raw != "")).to_numpy() & ~present[:, j]
            text_cells += [(j, i) for i in np.flatnonzero(bad)]
    if text_cells:
        tj, ti = np.asarray(text_cells).T
        r, c = np.r_[r, ti], np.r_[c, tj]
    names = np.asarray([str(s).strip() for s in securities], dtype=object)
    return pd.DataFrame({"security": pd.Categorical.from_codes(c, names) if len(names) else [],
                         "date": dates[r], "close": values[r, c]})


def _long_from_long(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    name = str(path)
    cols = {"security": _pick(frame.columns, _SECURITY_NAMES),
            "date": _pick(frame.columns, _DATE_NAMES),
            "close": _pick(frame.columns, _CLOSE_NAMES)}
    for key, col in cols.items():
        if col is None:
            raise InputError(f"missing column {key!r} of a long file (security, date, close; "
                             f"found: {', '.join(map(str, frame.columns))})", file=name, row=1)
    security = frame[cols["security"]].astype(str).str.strip()
    return pd.DataFrame({"security": pd.Categorical(security),
                         "date": _dates(frame[cols["date"]], name, cols["date"], strict=False),
                         "close": _numbers(frame[cols["close"]])})


def _read_folder(folder: Path, wanted: list[str] | None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One CSV per security (`<symbol>.csv`, Yahoo layout), each read once with pyarrow,
    which parses ISO dates itself; a file it refuses takes the careful pandas path."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    files = {e.name[:-4]: e.path for e in os.scandir(folder)
             if e.is_file() and e.name.lower().endswith(".csv")}
    if wanted is None:
        wanted = sorted(files)
    types = {n: pa.date32() for n in _DATE_NAMES}
    types.update({n: pa.float64() for n in _CLOSE_NAMES})
    options = pacsv.ConvertOptions(column_types=types, include_columns=list(types),
                                   include_missing_columns=True)
    read = pacsv.ReadOptions(use_threads=False)
    names, date_parts, close_parts, prov, problems = [], [], [], [], []
    for security in wanted:
        path = files.get(ticker_filename(security))
        if path is None:
            continue        # reported by load_universe as "no prices"
        try:
            table = pacsv.read_csv(path, read_options=read, convert_options=options)
            date, close = _first_present(table, _DATE_NAMES), _first_present(table, _CLOSE_NAMES)
            if date is not None and close is not None:
                date = (date[0], date[1].to_numpy().astype("datetime64[ns]"))
                close = (close[0], close[1].to_numpy())
        except Exception:  # noqa: BLE001 - a cell pyarrow cannot read: the slow careful path
            date, close = _careful_read(path)
        if date is None or close is None:
            problems.append(_problems([security], [pd.NaT], "unreadable file", "skip security",
                                      f"{Path(path).name}: no Date or Close column, or not a "
                                      "CSV"))
            continue
        names.append(security)
        date_parts.append(date[1])
        close_parts.append(np.asarray(close[1], dtype="float64"))
        prov.append((security, "csv", path, close[0]))
    if not names:
        empty = pd.DataFrame({"security": pd.Categorical([]), "date": pd.Series(
            [], dtype="datetime64[ns]"), "close": pd.Series([], dtype="float64")})
        return empty, pd.DataFrame(columns=PROVENANCE_COLUMNS), _concat(problems)
    sizes = [len(d) for d in date_parts]
    codes = np.repeat(np.arange(len(names), dtype=np.int32), sizes)
    long = pd.DataFrame({"security": pd.Categorical.from_codes(codes, names),
                         "date": np.concatenate(date_parts),
                         "close": np.concatenate(close_parts)})
    span = _provenance(long, "csv", None, None).set_index("security")[["first", "last"]]
    provenance = pd.DataFrame(prov, columns=["security", "origin", "location", "column"])
    provenance = provenance.join(span, on="security")
    provenance["rows"] = sizes
    return long, provenance[PROVENANCE_COLUMNS], _concat(problems)


def _first_present(table, names):
    """(name, column) of the first candidate column that has any value, or None."""
    for n in names:
        if n in table.column_names and table.column(n).null_count < len(table):
            return n, table.column(n)
    return None


def _careful_read(path: str):
    """A file pyarrow refused: pandas with every cell as text; a bad number becomes NaN (and
    is then reported as a missing price). ((date name, dates), (close name, closes))."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            on_bad_lines="skip")
    except Exception:  # noqa: BLE001 - an unreadable file is reported, not raised
        return None, None
    date_col, close_col = _pick(frame.columns, _DATE_NAMES), _pick(frame.columns, _CLOSE_NAMES)
    if date_col is None or close_col is None:
        return None, None
    return ((date_col, _dates(frame[date_col], path, date_col, strict=False)),
            (close_col, _numbers(frame[close_col])))


def _provenance(long: pd.DataFrame, origin: str, location: str | None, column: str | None,
                ) -> pd.DataFrame:
    """One row per security: first and last date and the number of rows read."""
    if not len(long):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in PROVENANCE_COLUMNS})
    g = long.groupby("security", observed=True, sort=True)["date"]
    out = pd.DataFrame({"first": g.min(), "last": g.max(), "rows": g.size()}).reset_index()
    out["security"] = out["security"].astype(str)
    out["origin"], out["location"], out["column"] = origin, location, column
    return out[PROVENANCE_COLUMNS]


# -- Yahoo --------------------------------------------------------------------------------------

def _read_yahoo(u: UniverseConfig, tickers: list[str], *, offline: bool, cache, fetch, start,
                end) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each ticker through the cache like a [series.X] (a loop over tickers: it is I/O)."""
    from eventstudy.config import SeriesConfig
    from eventstudy.data.prices import load_series_prices
    frames, prov, problems = [], [], []
    for ticker in tickers:
        series = SeriesConfig(id=ticker, name=ticker, source="yahoo", calendar=u.calendar,
                              ticker=ticker)
        try:
            frame, p, warning = load_series_prices(series, offline=offline, cache=cache,
                                                   fetch=fetch, start=start, end=end)
        except NetworkError:
            offline = True          # no network for one ticker is no network for all
            try:
                frame, p, warning = load_series_prices(series, offline=True, cache=cache)
            except (DataError, InputError) as exc:
                problems.append(_problems([ticker], [pd.NaT], "no prices", "skip security",
                                          str(exc)))
                continue
        except (DataError, InputError) as exc:
            problems.append(_problems([ticker], [pd.NaT], "no prices", "skip security",
                                      str(exc)))
            continue
        frames.append(pd.DataFrame({"security": ticker, "date": frame["date"],
                                    "close": frame["close"]}))
        prov.append((ticker, p.origin, p.location, "close", p.first, p.last, p.rows))
    long = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"security": [], "date": pd.Series([], dtype="datetime64[ns]"), "close": []}))
    long["security"] = pd.Categorical(long["security"].astype(str))
    provenance = pd.DataFrame(prov, columns=PROVENANCE_COLUMNS)
    return long, provenance, _concat(problems)
