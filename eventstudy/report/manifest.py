"""Which pages need rebuilding: a hash of each page's inputs, kept in the output folder.

A page is rebuilt when the hash of what it shows (its rows of the result frames, the config,
the warnings, this package's report code and templates) differs from the one recorded when it
was last written, or when the file is missing. A missing or unreadable manifest rebuilds all.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from eventstudy import atomic

MANIFEST = ".eventstudy-manifest.json"
VERSION = 1


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            h.update(frame_digest(part).encode())
        else:
            h.update(repr(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """Content hash of a frame: its columns and values, not its index or row order."""
    if frame is None or frame.empty:
        return f"empty:{list(frame.columns) if frame is not None else []}"
    frame = frame.reset_index(drop=True)
    rows = pd.util.hash_pandas_object(frame.astype({c: str for c in frame.columns
                                                     if frame[c].dtype == object}),
                                      index=False).to_numpy()
    h = hashlib.sha256(repr(list(frame.columns)).encode())
    h.update(rows.tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The report's own code and templates: a change to them rebuilds every page."""
    h = hashlib.sha256()
    root = resources.files("eventstudy.report")
    for name in sorted(p.name for p in root.iterdir() if p.name.endswith(".py")):
        h.update(root.joinpath(name).read_bytes())
    templates = root.joinpath("templates")
    for name in sorted(p.name for p in templates.iterdir()):
        h.update(templates.joinpath(name).read_bytes())
    return h.hexdigest()


def page_keys(result, view, common_key: str) -> dict[str, str]:
    """The input hash of every page: 'index', 'methods', 'event:<id>', 'group:<id>'."""
    keys = {
        "index": digest(common_key, result.events, result.alignment, result.car,
                        result.skipped, result.provenance, result.prices, result.gaps,
                        result.tests),
        "methods": digest(common_key, sorted(set(result.tests["test"].dropna()))),
    }
    in_groups = {gid: set(view.members[gid]["event_id"]) for gid in view.groups}
    for event in view.events.itertuples(index=False):
        eid = event.event_id
        ar = view.ar.get(eid, result.ar[:0])
        around = []
        for sid, rows in ar.groupby("series", sort=True):
            lo, hi = rows["date"].min(), rows["date"].max()
            for frame in (result.prices, result.gaps):
                sel = (frame["series"] == sid) & (frame["date"] >= lo) & (frame["date"] <= hi)
                around.append(frame[sel])
        keys[f"event:{eid}"] = digest(
            common_key, tuple(event), [g for g in view.groups if eid in in_groups[g]],
            *(view.of_event(name, eid) for name in ("alignment", "car", "tests", "skipped")),
            ar, *around)
    for gid in view.groups:
        members = view.members[gid]
        pairs = members[["event_id", "series"]]
        keys[f"group:{gid}"] = digest(
            common_key, members,
            result.aar[result.aar["group"] == gid], result.tests[result.tests["group"] == gid],
            result.car.merge(pairs, on=["event_id", "series"]),
            result.alignment.merge(pairs, on=["event_id", "series"]),
            view.events[view.events["event_id"].isin(set(members["event_id"]))])
    return keys


def read(out_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    pages = data.get("pages", {})
    return pages if isinstance(pages, dict) else {}


def write(out_dir: Path, pages: dict[str, str]) -> None:
    text = json.dumps({"version": VERSION, "pages": dict(sorted(pages.items()))}, indent=1)
    atomic.write_text(Path(out_dir) / MANIFEST, text + "\n")
