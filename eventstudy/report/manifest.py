"""Which pages need rebuilding: a hash of each page's inputs, kept in the output folder.

A page is rebuilt when the hash of what it shows (its rows of the result frames, the config,
the warnings, this package's report code and templates) differs from the one recorded when it
was last written, or when the file on disk is not the one recorded (missing, or rewritten by
a build that was interrupted before it could record what it wrote: the SHA-256 of each page's
bytes is kept beside its input key). A missing or unreadable manifest rebuilds all.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import atomic

MANIFEST = ".eventstudy-manifest.json"
VERSION = 2


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            h.update(frame_digest(part).encode())
        elif isinstance(part, _Hashed):
            h.update(part.digest().encode())
        else:
            h.update(repr(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """Content hash of a frame: its columns and values, not its index."""
    if frame is None or frame.empty:
        return f"empty:{list(frame.columns) if frame is not None else []}"
    return _Hashed(frame).digest()


class _Hashed:
    """A frame with its row hashes computed once; `rows(mask)` is a subset of its rows, whose
    digest is the digest of that subset frame (row hashes depend on the row alone)."""

    def __init__(self, frame: pd.DataFrame, hashes: np.ndarray | None = None):
        self.frame = frame
        self.hashes = row_hashes(frame) if hashes is None else hashes

    def rows(self, mask) -> "_Hashed":
        return _Hashed(self.frame.iloc[:0], self.hashes[np.asarray(mask, dtype=bool)])

    def digest(self) -> str:
        if not len(self.hashes):
            return f"empty:{list(self.frame.columns)}"
        h = hashlib.sha256(repr(list(self.frame.columns)).encode())
        h.update(self.hashes.tobytes())     # (the index does not enter the row hashes)
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


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 hash per row of the frame (its values, not its index)."""
    if frame.empty:
        return np.zeros(0, dtype=np.uint64)
    objects = {c: str for c, dtype in frame.dtypes.items() if dtype == object}
    return pd.util.hash_pandas_object(frame.astype(objects) if objects else frame,
                                      index=False).to_numpy()


def _pair_keys(frame: pd.DataFrame) -> np.ndarray:
    """'event_id\x00series' of each row, to select a group's pairs without a merge."""
    return (frame["event_id"].astype(str) + "\x00" + frame["series"].astype(str)).to_numpy(object)


def page_keys(result, view, common_key: str) -> dict[str, str]:
    """The input hash of every page: 'index', 'methods', 'event:<id>', 'group:<id>'.

    Every frame is hashed once, row by row; a page's key combines the hashes of its rows
    (selected by position: a per-page filter, merge or group of the frame is not rehashed).
    """
    events, alignment, car, tests = (_Hashed(result.events), _Hashed(result.alignment),
                                     _Hashed(result.car), _Hashed(result.tests))
    skipped, prices, gaps = _Hashed(result.skipped), _Hashed(result.prices), _Hashed(result.gaps)
    keys = {
        "index": digest(common_key, events, alignment, car, skipped,
                        result.provenance, prices, gaps, tests, view.firm),
        "methods": digest(common_key, sorted(set(result.tests["test"].dropna()))),
    }
    # event pages show no adjusted p-values (pages.without_adjusted): not in their keys
    from eventstudy.report.pages import drop_adjusted as bare
    pair_tests = bare(result.tests[result.tests["group"].fillna("") == ""])
    ar = view.ar.frame      # read once (a big study's `result.ar` reads its dataset each time)
    per_event = [(name, hashed.hashes, hashed.frame.groupby("event_id").indices)
                 for name, hashed in (("alignment", alignment), ("car", _Hashed(bare(result.car))),
                                      ("tests", _Hashed(pair_tests)), ("skipped", skipped),
                                      ("ar", _Hashed(ar)))]
    by_series = {}
    for name, hashed in (("prices", prices), ("gaps", gaps)):
        frame = hashed.frame.reset_index(drop=True).sort_values(["series", "date"],
                                                                kind="stable")
        hashes, dates = hashed.hashes[frame.index.to_numpy()], frame["date"].to_numpy()
        for sid, rows in frame.groupby("series", sort=True, observed=True).indices.items():
            by_series[(name, sid)] = (dates[rows], hashes[rows])
    in_groups = {gid: set(view.members[gid]["event_id"]) for gid in view.groups}
    ar_dates: dict[str, list] = {}      # event -> [(series, first date, last date)]
    spans = ar.groupby(["event_id", "series"])["date"].agg(["min", "max"])
    for (eid, sid), lo, hi in zip(spans.index, spans["min"], spans["max"]):
        ar_dates.setdefault(eid, []).append((sid, lo, hi))
    for event in view.events.itertuples(index=False):
        eid = event.event_id
        h = hashlib.sha256(common_key.encode())
        h.update(repr((tuple(event), [g for g in view.groups if eid in in_groups[g]])).encode())
        for name, hashes, index in per_event:
            h.update(name.encode())
            h.update(hashes[index.get(eid, [])].tobytes())
        if view.large_event(eid):
            # a summary page: it also shows its groups' tests and AAR, the securities'
            # metadata and the gaps inside the event's windows (no price path per pair)
            from eventstudy.report import universe
            h.update(digest(universe.event_gaps(view, view.ar.get(eid, view.ar.empty)),
                            *[bare(f) for f in universe.event_page_inputs(view, eid)]).encode())
        elif eid in ar_dates:
            for sid, lo, hi in ar_dates[eid]:
                for name in ("prices", "gaps"):
                    dates, hashes = by_series.get((name, sid), (np.array([]), np.zeros(0)))
                    i = np.searchsorted(dates, np.datetime64(lo), side="left")
                    j = np.searchsorted(dates, np.datetime64(hi), side="right")
                    h.update(f"{name}:{sid}".encode())
                    h.update(np.asarray(hashes[i:j]).tobytes())
        keys[f"event:{eid}"] = h.hexdigest()
    if view.groups:
        aar, shown = _Hashed(result.aar), _Hashed(view.events)
        # each (event, series) pair of car and alignment as an integer code, once: a group's
        # rows are then a look-up, not a string comparison of every row per group
        car_pairs, align_pairs = _pair_keys(result.car), _pair_keys(result.alignment)
        known = pd.Index(pd.unique(np.concatenate([car_pairs, align_pairs])))
        car_codes, align_codes = known.get_indexer(car_pairs), known.get_indexer(align_pairs)
    for gid in view.groups:
        members = view.members[gid]
        member = np.zeros(len(known), dtype=bool)
        found = known.get_indexer(_pair_keys(members))
        member[found[found >= 0]] = True
        keys[f"group:{gid}"] = digest(
            common_key, members, aar.rows(result.aar["group"] == gid),
            tests.rows(result.tests["group"] == gid),
            car.rows(member[car_codes]), alignment.rows(member[align_codes]),
            shown.rows(view.events["event_id"].isin(set(members["event_id"]))))
    return keys


def read(out_dir: Path) -> dict[str, dict]:
    """name -> {"key": input hash, "sha256": hash of the bytes written}; {} if unusable."""
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    pages = data.get("pages", {})
    if not isinstance(pages, dict):
        return {}
    return {name: entry for name, entry in pages.items()
            if isinstance(entry, dict) and isinstance(entry.get("key"), str)
            and isinstance(entry.get("sha256"), str)}


GENERATED_MARK = 'class="generated"'          # the one line that differs between builds


def bytes_digest(data: bytes) -> str:
    """SHA-256 of a page, less its generated-at line(s): the manifest stays deterministic too.

    The lines (as bytes.splitlines cuts them, with their ends) holding the mark are cut out
    and the rest hashed in a few large pieces, not line by line."""
    h = hashlib.sha256()
    mark = GENERATED_MARK.encode()
    start = 0
    while (i := data.find(mark, start)) >= 0:
        line_start = max(data.rfind(b"\n", start, i), data.rfind(b"\r", start, i)) + 1
        ends = [j for j in (data.find(b"\n", i), data.find(b"\r", i)) if j >= 0]
        line_end = min(ends) + 1 if ends else len(data)
        if data[line_end - 1:line_end + 1] == b"\r\n":
            line_end += 1
        h.update(data[start:line_start])
        start = line_end
    h.update(data[start:])
    return h.hexdigest()


def is_current(entry: dict | None, key: str, path: Path) -> bool:
    """The page at `path` is the one recorded for inputs `key`, byte for byte."""
    if not entry or entry.get("key") != key:
        return False
    try:
        return bytes_digest(path.read_bytes()) == entry["sha256"]
    except OSError:
        return False


def write(out_dir: Path, pages: dict[str, dict]) -> None:
    text = json.dumps({"version": VERSION, "pages": dict(sorted(pages.items()))}, indent=1)
    atomic.write_text(Path(out_dir) / MANIFEST, text + "\n")
