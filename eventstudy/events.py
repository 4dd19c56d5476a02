"""events.csv: one dated announcement a row, validated strictly (a wrong date is a wrong study)."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from eventstudy import atomic
from eventstudy.errors import InputError

REQUIRED = ["event_id", "announced_at", "title", "category", "source"]
OPTIONAL = ["time_precision", "tags"]
COLUMNS = ["event_id", "announced_at", "time_precision", "title", "category", "tags", "source"]
PRECISIONS = ("minute", "hour", "day")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def parse_instant(text: str) -> pd.Timestamp:
    """An aware instant from ISO-8601 with a UTC offset, or a local time followed by a zone name.

    '2025-04-02T16:00:00-04:00', '2025-04-02T20:00Z', '2025-04-02 16:00 America/New_York'.
    A naive time is refused: guessing the zone is how day 0 goes wrong.
    Raises ValueError with the reason.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
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
        return stamp.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    stamp = _parse_stamp(text)
    if stamp.tzinfo is None:
        raise ValueError(f"naive timestamp {text!r} (add a UTC offset such as -04:00 or a zone "
                         "name such as America/New_York)")
    return stamp


def _parse_stamp(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"cannot parse timestamp {text!r}") from None
    if stamp is pd.NaT:
        raise ValueError(f"cannot parse timestamp {text!r}")
    return stamp


def read_events_text(text: str, name: str) -> pd.DataFrame:
    """Validate the CSV text of an events file; rows counted as in a spreadsheet (header = 1)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file: expected a header row "
                         f"({','.join(REQUIRED)})", file=name) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", file=name, row=1) from None
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (found: {', '.join(header)})", file=name, row=1)
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(f"unknown column {unknown[0]!r} (allowed: {', '.join(COLUMNS)})",
                         file=name, row=1, field=unknown[0])
    dupes = {c for c in header if header.count(c) > 1}
    if dupes:
        raise InputError(f"column {sorted(dupes)[0]!r} appears twice", file=name, row=1)

    records, seen = [], {}
    try:
        for i, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise InputError(f"{len(cells)} fields where the header has {len(header)} "
                                 "(quote titles that contain commas)", file=name, row=i)
            rec = {k: v.strip() for k, v in zip(header, cells)}
            records.append(_validate_row(rec, name, i, seen))
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", file=name, row=reader.line_num) from None
    if not records:
        raise InputError("no events (only a header)", file=name)
    frame = pd.DataFrame.from_records(records)
    return frame.sort_values(["announced_at_utc", "event_id"], kind="stable").reset_index(drop=True)


def _validate_row(rec: dict, name: str, row: int, seen: dict) -> dict:
    eid = rec["event_id"]
    if not eid:
        raise InputError("empty event_id", file=name, row=row, field="event_id")
    if not _ID.fullmatch(eid):
        raise InputError(f"event_id {eid!r} may hold only letters, digits, '.', '_' and '-'",
                         file=name, row=row, field="event_id")
    if eid in seen:
        raise InputError(f"duplicate event_id {eid!r} (first on row {seen[eid]})", file=name,
                         row=row, field="event_id")
    seen[eid] = row
    try:
        instant = parse_instant(rec["announced_at"])
    except ValueError as exc:
        raise InputError(str(exc), file=name, row=row, field="announced_at") from None
    precision = rec.get("time_precision") or "minute"
    if precision not in PRECISIONS:
        raise InputError(f"{precision!r} is not one of {', '.join(PRECISIONS)}", file=name,
                         row=row, field="time_precision")
    for key in ("title", "category", "source"):
        if not rec[key]:
            raise InputError(f"empty {key}", file=name, row=row, field=key)
    return {
        "event_id": eid,
        "announced_at": rec["announced_at"],
        "announced_at_utc": instant.tz_convert("UTC"),
        "time_precision": precision,
        "title": rec["title"],
        "category": rec["category"],
        "tags": rec.get("tags", ""),
        "source": rec["source"],
        "row": row,
    }


def load_events(path: str | Path) -> pd.DataFrame:
    """Read and validate events.csv; a tidy frame sorted by announcement time."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    return read_events_text(text, str(path))


def add_event(path: str | Path, *, event_id: str, announced_at: str, title: str, category: str,
              source: str, time_precision: str = "minute", tags: str = "") -> pd.DataFrame:
    """Append one validated row to events.csv atomically; the file is untouched on any error."""
    path = Path(path)
    text = path.read_text("utf-8") if path.exists() else ",".join(COLUMNS) + "\n"
    header = next(csv.reader(io.StringIO(text)))
    row = {"event_id": event_id, "announced_at": announced_at, "time_precision": time_precision,
           "title": title, "category": category, "tags": tags, "source": source}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([row.get(col.strip(), "") for col in header])
    new_text = text + ("" if text.endswith("\n") else "\n") + buf.getvalue()
    events = read_events_text(new_text, str(path))
    atomic.write_text(path, new_text)
    return events
