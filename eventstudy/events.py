"""events.csv: one dated announcement a row, validated strictly (a wrong date is a wrong study)."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from eventstudy import atomic
from eventstudy.errors import InputError, suggest

REQUIRED = ["event_id", "announced_at", "title", "category", "source"]
OPTIONAL = ["time_precision", "tags", "scope"]
COLUMNS = ["event_id", "announced_at", "time_precision", "title", "category", "tags", "source",
           "scope"]
PRECISIONS = ("minute", "hour", "day")
# market_wide: the news moved the benchmark market itself (the S&P 500 on its own day 0), so a
# market model would call part of the event's effect "normal"; local (or empty): it did not.
SCOPES = ("market_wide", "local")
ALLOWED = f" (allowed: {', '.join(COLUMNS)})"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# An id names a page (events/<id>.html) whose temporary file adds 19 characters: 100 always
# fits the 255 a file name may have, with room for the group pages' names.
MAX_ID_LENGTH = 100
KNOWN_CATEGORIES = ("escalation", "de-escalation", "negotiation", "implementation")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_DATE_FIRST = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_ABBREVIATION = re.compile(r"[A-Za-z]{1,5}")
# 'UTC+9', 'GMT-4', 'UTC+05:30' at the end: a person means +09:00, POSIX (and dateutil) -09:00.
_NAMED_OFFSET = re.compile(r"\s*(?<![/A-Za-z_])(?P<name>[A-Za-z]+)\s*(?P<sign>[+-])(?P<hh>\d{1,2})"
                           r"(?::?(?P<mm>\d{2}))?$")


def parse_instant(text: str) -> pd.Timestamp:
    """An aware instant from ISO-8601 with a UTC offset, or a local time followed by a zone name.

    '2025-04-02T16:00:00-04:00', '2025-04-02T20:00Z', '2025-04-02 16:00 America/New_York'.
    A naive time is refused: guessing the zone is how day 0 goes wrong.
    'UTC+9' / 'GMT-4' are read as a person means them (UTC+9 is +09:00), not with the
    inverted POSIX sign dateutil gives them; any other name with an offset ('EST+5') is
    refused. tzdb's 'Etc/GMT-9' keeps tzdb's own (inverted) sign: it is +09:00.
    Raises ValueError with the reason.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    if not _DATE_FIRST.match(text):
        raise ValueError(f"cannot parse timestamp {text!r}: it must start with a date "
                         "(YYYY-MM-DD)")
    named = _NAMED_OFFSET.search(text)
    if named:
        return _named_offset(text, named)
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and ("/" in parts[1] or parts[1] == "UTC"):
        local, zone = parts
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        stamp = _parse_stamp(local)
        if stamp.tzinfo is not None:
            raise ValueError(f"{text!r} has both a UTC offset and a zone name")
        if ":" not in local:
            raise ValueError(f"{text!r} has no time of day")
        return _localize(stamp, tz, text)
    if len(parts) == 2 and _ABBREVIATION.fullmatch(parts[1]) and parts[1] != "Z":
        raise ValueError(f"{parts[1]!r} in {text!r} is not a time zone name: abbreviations are "
                         "ambiguous (use a UTC offset such as -04:00 or a zone name such as "
                         "America/New_York)")
    stamp = _parse_stamp(text)
    if stamp.tzinfo is None:
        raise ValueError(f"naive timestamp {text!r} (add a UTC offset such as -04:00 or a zone "
                         "name such as America/New_York)")
    return stamp


def _named_offset(text: str, match: re.Match) -> pd.Timestamp:
    """'<local time> UTC+9' as local time at +09:00; another name with an offset is refused."""
    local = text[:match.start()].strip()
    sign, hh, mm = match["sign"], int(match["hh"]), int(match["mm"] or 0)
    iso = f"{sign}{hh:02d}:{mm:02d}"
    example = f"{local.replace(' ', 'T')}{iso}"
    if match["name"].upper() not in ("UTC", "GMT"):
        flipped = f"{'-' if sign == '+' else '+'}{hh:02d}:{mm:02d}"
        raise ValueError(f"{text[match.start():].strip()!r} in {text!r} is ambiguous: POSIX "
                         f"reads it as UTC{flipped}, a person may mean UTC{iso} (write an ISO "
                         f"offset: {example} or {local.replace(' ', 'T')}{flipped})")
    if hh > 14 or mm > 59 or (hh == 14 and mm):
        raise ValueError(f"{text!r}: no time zone is {match['name']}{iso} (offsets run from "
                         "-12:00 to +14:00)")
    stamp = _parse_stamp(local)
    if stamp.tzinfo is not None:
        raise ValueError(f"{text!r} has two UTC offsets")
    if ":" not in local:
        raise ValueError(f"{text!r} has no time of day")
    return _parse_stamp(f"{stamp.isoformat()}{iso}")


def _localize(stamp: pd.Timestamp, tz: ZoneInfo, text: str) -> pd.Timestamp:
    """The local wall time in `tz`; a time skipped or repeated by a clock change is refused."""
    aware = stamp.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    if aware is not pd.NaT:
        return aware
    try:
        stamp.tz_localize(tz, ambiguous=True, nonexistent="raise")
    except Exception:  # noqa: BLE001 - pandas' and pytz's error types differ by version
        raise ValueError(f"{text!r} does not exist: the clocks skip that hour for daylight "
                         "saving time (give a UTC offset instead)") from None
    raise ValueError(f"{text!r} is ambiguous: that hour happens twice when the clocks go back "
                     "(give a UTC offset instead)")


def _parse_stamp(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"cannot parse timestamp {text!r}") from None
    if stamp is pd.NaT:
        raise ValueError(f"cannot parse timestamp {text!r}")
    return stamp


def _header(text: str, name: str, required: list[str]):
    """The CSV rows (an iterator past the header) and the stripped header of a text file."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise InputError("NUL characters: not a text CSV (UTF-16? save it as CSV UTF-8)",
                         file=name, row=text[:text.index("\x00")].count("\n") + 1)
    end = min([i for i in (text.find("\n"), text.find("\r")) if i >= 0] or [len(text)])
    if text and '"' not in text[:end]:
        # an unquoted first line is the header record: the csv module reads the rest only
        # if it is asked to (its StringIO of a million-row file is 4 bytes a character)
        header = next(csv.reader([text[:end]]), [])
        rows = _rest_rows(text, name)
    else:
        rows = _csv_rows(text, name)
        try:
            _, header = next(rows)
        except StopIteration:
            raise InputError("empty file: expected a header row "
                             f"({','.join(required)})", file=name) from None
    header = [h.strip() for h in header]
    if "" in header:
        raise InputError(f"column {header.index('') + 1} of the header has no name "
                         "(a stray comma?)", file=name, row=1)
    return rows, header


def _rest_rows(text: str, name: str):
    """`_csv_rows` past the first record (started when first iterated)."""
    rows = _csv_rows(text, name)
    next(rows, None)
    yield from rows


def _instant_and_precision(rec: dict, name: str, row: int) -> tuple[pd.Timestamp, str]:
    """A row's announcement instant and time precision, or the one-line error naming them."""
    try:
        instant = parse_instant(rec["announced_at"])
    except ValueError as exc:
        raise InputError(str(exc), file=name, row=row, field="announced_at") from None
    precision = rec.get("time_precision") or "minute"
    if precision not in PRECISIONS:
        raise InputError(f"{precision!r} is not one of {', '.join(PRECISIONS)}"
                         f"{suggest(precision, PRECISIONS)}", file=name, row=row,
                         field="time_precision")
    return instant, precision


def read_events_text(text: str, name: str) -> pd.DataFrame:
    """Validate the CSV text of an events file; rows counted as in a spreadsheet (header = 1)."""
    rows, header = _header(text, name, REQUIRED)
    _check_columns(header, name)
    seen: dict = {}
    records = [_validate_row(rec, name, i, seen)
               for i, rec in _records(rows, header, name, "titles")]
    return _events_frame(records, name)


def _records(rows, header: list[str], name: str, what: str):
    """(row number, {column: stripped cell}) of each non-blank row; a row with the wrong
    number of fields is an error (an unquoted comma in one of the `what`)."""
    for i, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} fields where the header has {len(header)} "
                             f"(quote {what} that contain commas)", file=name, row=i)
        yield i, {k: v.strip() for k, v in zip(header, cells)}


def _check_columns(header: list[str], name: str, row=1) -> None:
    """Every required column, no unknown or repeated one (a misspelling named as itself)."""
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    missing = [c for c in REQUIRED if c not in header]
    for col in unknown:  # a misspelt column is named as itself, not as a missing one
        hint = suggest(col, [c for c in COLUMNS if c not in header])
        if hint or not missing:
            raise InputError(f"unknown column {col!r}{hint or ALLOWED}", file=name, row=row,
                             field=col)
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (found: {', '.join(header)})", file=name,
                         row=row)
    dupes = {c for c in header if header.count(c) > 1}
    if dupes:
        raise InputError(f"column {sorted(dupes)[0]!r} appears twice", file=name, row=row)


def _events_frame(records: list[dict], name: str,
                  empty: str = "no events (only a header)") -> pd.DataFrame:
    """The validated rows as the events frame, sorted by announcement time."""
    if not records:
        raise InputError(empty, file=name)
    frame = pd.DataFrame.from_records(records)
    frame = frame.sort_values(["announced_at_utc", "event_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["file"] = name   # so a later check (e.g. against the data) can name the file
    return frame


def _csv_rows(text: str, name: str):
    """(row, cells) for each record; rows as a spreadsheet counts them (a quoted line break
    stays in its row), quotes checked strictly."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise InputError("unbalanced quote: a quoted field starts on this row and never "
                                 "ends", file=name, row=row) from None
            raise InputError(f"malformed CSV: {exc} (a quote inside a quoted field is written "
                             '""; a field with a quote must be quoted whole)', file=name,
                             row=row) from None
        yield row, cells
        row += 1


def _validate_row(rec: dict, name: str, row: int, seen: dict) -> dict:
    eid = rec["event_id"]
    if not eid:
        raise InputError("empty event_id", file=name, row=row, field="event_id")
    if len(eid) > MAX_ID_LENGTH:
        raise InputError(f"event_id is {len(eid)} characters long; at most {MAX_ID_LENGTH} "
                         "(it names the event's report page)", file=name, row=row,
                         field="event_id")
    if not _ID.fullmatch(eid):
        raise InputError(f"event_id {eid!r} may hold only letters, digits, '.', '_' and '-'",
                         file=name, row=row, field="event_id")
    if eid in seen:
        raise InputError(f"duplicate event_id {eid!r} (first on row {seen[eid]})", file=name,
                         row=row, field="event_id")
    twin = next((other for other in seen if other.lower() == eid.lower()), None)
    if twin is not None:
        raise InputError(f"event_id {eid!r} differs from {twin!r} (row {seen[twin]}) only in "
                         "case: their report pages would be one file on macOS and Windows",
                         file=name, row=row, field="event_id")
    seen[eid] = row
    instant, precision = _instant_and_precision(rec, name, row)
    for key in ("title", "category", "source"):
        if not rec[key]:
            raise InputError(f"empty {key}", file=name, row=row, field=key)
    scope = rec.get("scope") or "local"
    if scope not in SCOPES:
        raise InputError(f"scope {scope!r} is not one of {', '.join(SCOPES)} (or empty for local)"
                         f"{suggest(scope, SCOPES)}", file=name, row=row, field="scope")
    return {
        "event_id": eid,
        "announced_at": rec["announced_at"],
        "announced_at_utc": instant.tz_convert("UTC"),
        "time_precision": precision,
        "title": rec["title"],
        "category": rec["category"],
        "tags": rec.get("tags", ""),
        "source": rec["source"],
        "scope": scope,
        "row": row,
    }


def load_events(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and validate events.csv (or a DataFrame of the same columns); a tidy frame sorted
    by announcement time.

    Columns: those of the file (absent optional ones filled: time_precision 'minute', tags '',
    scope 'local'), announced_at_utc (the instant, aware UTC) and row (as a spreadsheet counts).
    A DataFrame gets the same validation (`read_events_frame`); its errors name the file
    `<DataFrame>` and the row by its index label.
    """
    if isinstance(source, pd.DataFrame):
        return read_events_frame(source)
    path = Path(source)
    return read_events_text(_read_text(path), str(path))


FRAME_NAME = "<DataFrame>"
DERIVED = ("announced_at_utc", "row")     # what load_events adds: accepted back, and checked


def read_events_frame(frame: pd.DataFrame, name: str = FRAME_NAME) -> pd.DataFrame:
    """Validate events given as a DataFrame, as `read_events_text` validates a file.

    Cells may be text or values: an aware Timestamp in announced_at is its ISO form, a naive
    one is refused like a naive text; NaN/None is an empty cell. The output of `load_events`
    (or a filter of it) is accepted back: its announced_at_utc must agree with announced_at.
    `row` in errors and in the result is the frame's index label (a row is `frame.loc[row]`).
    """
    header = [str(c).strip() for c in frame.columns]
    given = [c for c in header if c not in DERIVED]
    _check_columns(given, name, row=None)
    dupes = [c for c in DERIVED if header.count(c) > 1]
    if dupes:
        raise InputError(f"column {dupes[0]!r} appears twice", file=name)
    utc = header.index("announced_at_utc") if "announced_at_utc" in header else None
    records, seen = [], {}
    for label, values in zip(frame.index.tolist(), frame.itertuples(index=False, name=None)):
        rec = {k: _cell_text(v) for k, v in zip(header, values) if k not in DERIVED}
        if not any(rec.values()):
            continue
        out = _validate_row(rec, name, label, seen)
        if utc is not None and not _missing(values[utc]):
            try:
                stated = pd.Timestamp(values[utc])
            except (TypeError, ValueError):
                stated = None
            if stated is None or stated.tzinfo is None or stated != out["announced_at_utc"]:
                raise InputError(f"announced_at_utc {values[utc]!s} disagrees with "
                                 f"announced_at {out['announced_at']!r} "
                                 f"({out['announced_at_utc']:%Y-%m-%d %H:%M} UTC): edit "
                                 "announced_at, or drop the announced_at_utc column", file=name,
                                 row=label, field="announced_at_utc")
        records.append(out)
    return _events_frame(records, name, empty="no events (no rows)")


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cell_text(value) -> str:
    """A DataFrame cell as the text a CSV would hold: an aware instant in ISO form (a naive one
    without an offset, so it is refused as naive), NaN/None empty."""
    if _missing(value):
        return ""
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)):
        stamp = pd.Timestamp(value)
        return stamp.isoformat() if stamp.tzinfo is not None else str(stamp)
    return str(value).strip()


def _read_text(path: Path) -> str:
    """The text of a CSV file, or an InputError saying why it cannot be had."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("UTF-16 text: save it as CSV UTF-8", file=str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} (save it as CSV UTF-8)",
                         file=str(path), row=raw[:exc.start].count(b"\n") + 1) from None


def add_event(path: str | Path, *, event_id: str, announced_at: str, title: str, category: str,
              source: str, time_precision: str = "minute", tags: str = "") -> pd.DataFrame:
    """Append one validated row to events.csv atomically; the file is untouched on any error.

    The file keeps its permissions, and a symlinked events file is written through to its
    target (atomic.write_text). A source that is a link of another scheme than http(s)
    (javascript:, file:, data:) is refused. Returns the events; `frame.attrs["warnings"]`
    holds what looks like a typo but may be meant: a category no event has yet (with the
    closest known one), a source that is not an http(s) URL.
    """
    path = Path(path)
    text = _read_text(path) if path.exists() else ""
    if not text.strip():                      # a new (or empty) file: start with the header
        text = ",".join(COLUMNS) + "\n"
    try:
        before = read_events_text(text, str(path))
    except InputError:                        # only a header; any other fault is found below
        before = None
    notes = []
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*):", source)
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise InputError(f"{source!r} is a {scheme.group(1)}: link; a source must be an "
                         "http(s) URL (or plain text such as a publication's name)",
                         file=str(path), field="source")
    if not re.match(r"https?://[^\s/]+\.[^\s/]+", source.strip(), re.IGNORECASE):
        notes.append(f"source {source.strip()!r} is not an http(s) URL: the report shows it as "
                     "text, not as a link")
    known = sorted(set(KNOWN_CATEGORIES) | set(before["category"] if before is not None else ()))
    if category.strip() and category.strip() not in known:
        notes.append(f"category {category.strip()!r} is new: no event has it yet, so no group "
                     f"selects it{suggest(category.strip(), known) or ''} (known: "
                     f"{', '.join(known)})")
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    row = {"event_id": event_id, "announced_at": announced_at, "time_precision": time_precision,
           "title": title, "category": category, "tags": tags, "source": source}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([row.get(col.strip(), "") for col in header])
    new_text = text + ("" if text.endswith("\n") else "\n") + buf.getvalue()
    events = read_events_text(new_text, str(path))
    atomic.write_text(path, new_text)
    events.attrs["warnings"] = notes
    return events


FIRM_REQUIRED = ["event_id", "security", "announced_at"]
FIRM_RESERVED = ["announced_at_utc", "row"]


def load_firm_events(path: str | Path) -> pd.DataFrame:
    """Read and validate a file of firm-specific events: one (event, security) pair a row.

    Columns: event_id, security, announced_at (aware, as in events.csv), optional
    time_precision and category, and any metadata (e.g. surprise): numbers become numbers.
    An event id may cover several securities (a sector's news) but (event_id, security)
    is unique. Sorted by announcement time like `load_events`; `row` is the file's row.

    A million rows are read column-wise (`_firm_columns`: pyarrow's CSV reader, each time
    zone's instants parsed at once); a file that holds any bad or unusual row is read again
    row by row (`_firm_rows`), which words the first error exactly as before.
    """
    path = Path(path)
    name = str(path)
    text = _read_text(path)
    rows, header = _header(text, name, FIRM_REQUIRED)
    _check_firm_header(header, name)
    frame = _firm_columns(text, rows, header, name)
    if frame is None:
        rows, header = _header(text, name, FIRM_REQUIRED)
        frame = _firm_rows(rows, header, name)
    return frame


def _check_firm_header(header: list[str], name: str) -> None:
    missing = [c for c in FIRM_REQUIRED if c not in header]
    if missing:
        hint = next((suggest(m, header) for m in missing if suggest(m, header)), "")
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}{hint} (found: {', '.join(header)})", file=name,
                         row=1)
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise InputError(f"column {dupes[0]!r} appears twice", file=name, row=1)
    reserved = [c for c in header if c in FIRM_RESERVED]
    if reserved:
        raise InputError(f"column {reserved[0]!r} is computed by the tool: rename it",
                         file=name, row=1, field=reserved[0])


def _firm_rows(rows, header: list[str], name: str) -> pd.DataFrame:
    """The row-by-row reader: the reference, and the one that words a bad row's error."""
    records, seen = [], {}
    for i, rec in _records(rows, header, name, "values"):
        eid, security = rec["event_id"], rec["security"]
        if not eid:
            raise InputError("empty event_id", file=name, row=i, field="event_id")
        if not _ID.fullmatch(eid):
            raise InputError(f"event_id {eid!r} may hold only letters, digits, '.', '_' and '-'",
                             file=name, row=i, field="event_id")
        if not security:
            raise InputError("empty security", file=name, row=i, field="security")
        if security[0] in "=+-@" or any(ord(ch) < 32 or 127 <= ord(ch) < 160
                                        for ch in security):
            raise InputError(f"security {security!r} starts with a formula character or holds "
                             "a control character", file=name, row=i, field="security")
        if (eid, security) in seen:
            raise InputError(f"duplicate pair ({eid}, {security}) (first on row "
                             f"{seen[(eid, security)]})", file=name, row=i, field="event_id")
        seen[(eid, security)] = i
        instant, precision = _instant_and_precision(rec, name, i)
        rec.update(announced_at_utc=instant.tz_convert("UTC"), time_precision=precision,
                   category=rec.get("category", ""), row=i)
        records.append(rec)
    if not records:
        raise InputError("no events (only a header)", file=name)
    return _firm_frame(pd.DataFrame.from_records(records), header, name)


def _firm_frame(frame: pd.DataFrame, header: list[str], name: str,
                sort: bool = True) -> pd.DataFrame:
    front = ["event_id", "security", "announced_at", "announced_at_utc", "time_precision",
             "category"]
    extra = [c for c in header if c not in front]
    frame = frame[front + extra + ["row"]]
    for col in extra:   # metadata that is all numbers becomes numeric (where = "surprise > 0")
        values = frame[col].replace("", None)
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().any() and numbers.notna().sum() == values.notna().sum():
            frame[col] = numbers.astype("float64")
    if sort:
        frame = frame.sort_values(["announced_at_utc", "event_id", "security"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["file"] = name
    return frame


# Python's str.strip() whitespace (str.isspace), as an RE2 class for pyarrow
_SPACE = "[" + "".join(f"\\x{{{c:04x}}}" for c in range(0x3001) if chr(c).isspace()) + "]"
_LOCAL = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_ZONE_NAME = re.compile(r"[A-Za-z_]+(?:/[A-Za-z_-]+)+|UTC")     # after a local time: a zone
_OFFSET_ISO = rf"^{_LOCAL}(?:Z|[+-]\d{{2}}:\d{{2}})$"                 # ISO with a UTC offset


def _firm_columns(text: str, rows, header: list[str], name: str) -> pd.DataFrame | None:
    """`_firm_rows`' frame, computed column by column; None when any row is bad or unusual
    (a blank or ragged row, a malformed quote, an id, security, precision or instant that
    `_firm_rows` refuses or that is not in a common form): the caller reads the file again row
    by row, which words the first error. Equal to `_firm_rows` (tests/test_firm_events.py)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    cells = _firm_cells(text, rows, len(header))
    if cells is None or not len(cells[0]):
        return None
    cols = dict(zip(header, cells[0]))
    padded = "\"" in text or not _no_padding(text)
    for c, values in cols.items():          # strip as str.strip() does, only where needed
        if padded and pc.any(pc.match_substring_regex(
                values, f"^{_SPACE}|{_SPACE}$")).as_py():
            cols[c] = pa.array([v.strip() for v in values.to_pylist()], pa.string())
    n = len(cols["event_id"])
    if not pc.all(pc.match_substring_regex(cols["event_id"], f"^{_ID.pattern}$")
                  ).as_py():
        return None
    sec = cols["security"]
    if pc.any(pc.equal(pc.utf8_length(sec), 0)).as_py() or pc.any(pc.match_substring_regex(
            sec, r"^[=+\-@]|[\x{00}-\x{1f}\x{7f}-\x{9f}]")).as_py():
        return None
    if pc.count_distinct(cols["event_id"]).as_py() < n and pd.DataFrame(
            {"e": cols["event_id"].to_pandas(), "s": sec.to_pandas()}).duplicated().any():
        return None
    precision = cols.get("time_precision", pa.array([""] * n, pa.string()))
    precision = pc.if_else(pc.equal(precision, ""), "minute", precision)
    if not pc.all(pc.is_in(precision, pa.array(PRECISIONS))).as_py():
        return None
    utc = _instants(cols["announced_at"])
    if utc is None:
        return None
    ns, unit = utc
    cols.update(time_precision=precision, row=pa.array(cells[1]))
    cols.setdefault("category", pa.array([""] * n, pa.string()))
    # sorted by instant, event_id, security as `_firm_rows` sorts (stable; arrow orders
    # strings by their UTF-8 bytes, i.e. by code point, as Python and pandas do)
    order = pc.sort_indices(pa.table({"t": ns, "e": cols["event_id"], "s": sec}),
                            sort_keys=[("t", "ascending"), ("e", "ascending"),
                                       ("s", "ascending")])
    frame = pd.DataFrame({c: v.take(order).to_pandas() for c, v in cols.items()})
    frame["announced_at_utc"] = pd.to_datetime(ns[order.to_numpy()], unit="ns",
                                               utc=True).as_unit(unit)
    return _firm_frame(frame, header, name, sort=False)


def _no_padding(text: str) -> bool:
    """Whether no cell of an unquoted ASCII CSV text starts or ends with whitespace: the bytes
    beside each comma and line break, instead of a regex over every cell."""
    if not text.isascii() or "\r" in text:
        return False
    b = np.frombuffer(text.encode("ascii"), np.uint8)
    if not len(b):
        return True
    space = np.zeros(256, bool)
    space[[ord(c) for c in map(chr, range(128)) if c.isspace()]] = True
    sep = np.flatnonzero((b == ord(",")) | (b == ord("\n")))
    ends = np.r_[sep - 1, len(b) - 1]          # last byte of each cell (or its separator)
    starts = np.r_[0, sep + 1]
    ends, starts = ends[ends >= 0], starts[starts < len(b)]
    return not (space[b[ends]] & (b[ends] != ord("\n"))).any() and \
        not (space[b[starts]] & (b[starts] != ord("\n"))).any()


def _firm_cells(text: str, rows, width: int):
    """(the columns as pyarrow string arrays, each row's number) of a file whose rows are
    all `width` fields; None for anything irregular. Without quotes (the common case) the
    body goes to pyarrow's CSV reader; with quotes, to `rows` (the csv module, row numbers as
    a spreadsheet counts them)."""
    import pyarrow as pa
    if '"' not in text and ("\r" not in text or text.count("\r") == text.count("\r\n")):
        import pyarrow.csv as pacsv
        end = text.find("\n")
        body = text[end + 1:] if end >= 0 else ""
        names = [f"c{i}" for i in range(width)]
        try:
            table = pacsv.read_csv(
                io.BytesIO(body.encode("utf-8")),
                read_options=pacsv.ReadOptions(column_names=names),
                parse_options=pacsv.ParseOptions(quote_char=False, newlines_in_values=False,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                    quoted_strings_can_be_null=False))
        except (pa.ArrowInvalid, ValueError):
            return None
        return ([table.column(c).combine_chunks() for c in names],
                np.arange(table.num_rows, dtype=np.int64) + 2)
    try:
        records = list(rows)
    except InputError:
        return None
    if any(len(cells) != width for _, cells in records):
        return None           # ragged, or blank (skipped by _firm_rows with its row number)
    columns = list(zip(*(cells for _, cells in records))) or [()] * width
    return ([pa.array(list(c), pa.string()) for c in columns],
            np.array([i for i, _ in records], dtype=np.int64))


def _instants(values) -> tuple[np.ndarray, str] | None:
    """announced_at as UTC instants (int64 ns) and `parse_instant`'s unit (the finest any row
    needs);
    each zone's local times are localised at once, ISO times with an offset parsed at once,
    any other form row by row; None if a row is refused (a skipped or repeated local hour,
    an unknown zone, a naive time...)."""
    import pyarrow.compute as pc
    n = len(values)
    ns = np.zeros(n, np.int64)
    units = set()
    done = np.zeros(n, bool)
    parts = pc.split_pattern(values, " ", max_splits=1, reverse=True)
    two = pc.equal(pc.list_value_length(parts), 2)
    at = np.flatnonzero(two.to_numpy(zero_copy_only=False))
    if len(at):
        if len(at) < n:
            parts = parts.take(at)
        local, zone = pc.list_element(parts, 0), pc.list_element(parts, 1)
        ok = pc.match_substring_regex(local, f"^{_LOCAL}$").to_numpy(zero_copy_only=False)
        zone = pc.dictionary_encode(zone)
        code = zone.indices.to_numpy(zero_copy_only=False)
        for k, name in enumerate(zone.dictionary.to_pylist()):
            if not _ZONE_NAME.fullmatch(name):
                continue
            try:
                tz = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                return None
            mine = np.flatnonzero((code == k) & ok)
            if not len(mine):
                continue
            text = local if len(mine) == len(at) else local.take(mine)
            stamps = pd.DatetimeIndex(pd.to_datetime(text.to_pandas(), format="ISO8601"))
            aware = stamps.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            if aware.hasnans:
                return None
            units.add(stamps.unit)
            ns[at[mine]] = aware.tz_convert("UTC").as_unit("ns").asi8
            done[at[mine]] = True
    rows = np.flatnonzero(~done)
    if len(rows):
        rest = values.take(rows) if len(rows) < n else values
        iso = pc.match_substring_regex(rest, _OFFSET_ISO).to_numpy(zero_copy_only=False)
        if iso.any():
            stamps = pd.DatetimeIndex(pd.to_datetime(rest.filter(iso).to_pandas(),
                                                     format="ISO8601", utc=True))
            units.add(stamps.unit)
            ns[rows[iso]] = stamps.as_unit("ns").asi8
            done[rows[iso]] = True
    rows = np.flatnonzero(~done)
    text = values.take(rows).to_pylist() if len(rows) else []
    for i, one in zip(rows, text):        # other forms ('UTC+9', 'Etc/GMT-9'): one by one
        try:
            stamp = parse_instant(one)
        except ValueError:
            return None
        units.add(stamp.unit)
        ns[i] = stamp.tz_convert("UTC").as_unit("ns").value
    return ns, max(units, key=["s", "ms", "us", "ns"].index)
