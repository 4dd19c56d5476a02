"""The manifest's shortcuts (issue #12, item 7: one new event) give what the plain way gives.

page_keys hashes each result frame once and selects a page's rows from those hashes; a group's
key must still be the digest of the frames the group page is drawn from (its rows of aar and
tests, its pairs' rows of car and alignment, merged as the page merges them). bytes_digest
hashes a page less its generated-at line in a few pieces; it must equal hashing it line by line.
EventRows cuts an event's rows on demand; they must be the rows groupby gives.
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pandas as pd
import pytest
from markupsafe import Markup

from eventstudy.report import manifest, pages


def test_a_group_key_is_the_digest_of_the_frames_its_page_shows(offline_result):
    r = offline_result
    view = pages.View(r)
    keys = manifest.page_keys(r, view, "common")
    assert view.groups
    for gid in view.groups:
        members = view.members[gid]
        pairs = members[["event_id", "series"]]
        by_merge = manifest.digest(
            "common", members, r.aar[r.aar["group"] == gid], r.tests[r.tests["group"] == gid],
            r.car.merge(pairs, on=["event_id", "series"]),
            r.alignment.merge(pairs, on=["event_id", "series"]),
            view.events[view.events["event_id"].isin(set(members["event_id"]))])
        assert keys[f"group:{gid}"] == by_merge, gid
    # the index's key is the digest of whole frames, each hashed on its own
    assert keys["index"] == manifest.digest(
        "common", r.events, r.alignment, r.car, r.skipped, r.provenance, r.prices, r.gaps,
        r.tests, view.firm)


def test_an_event_key_changes_with_its_own_rows_only(offline_result):
    r = offline_result
    view = pages.View(r)
    before = manifest.page_keys(r, view, "common")
    eid = view.events["event_id"].iloc[0]
    car = r.car.copy()
    car.loc[car["event_id"] == eid, "car"] += 1e-9
    same = {k: getattr(r, k) for k in ("events", "alignment", "tests", "skipped", "ar",
                                       "prices", "gaps", "provenance", "aar")}
    after = manifest.page_keys(SimpleNamespace(**same, car=car), view, "common")
    moved = {k for k in before if before[k] != after[k]}
    assert f"event:{eid}" in moved and "index" in moved
    assert not {k for k in moved if k.startswith("event:")} - {f"event:{eid}"}


def _line_by_line(data: bytes) -> str:
    h = hashlib.sha256()
    for line in data.splitlines(keepends=True):
        if manifest.GENERATED_MARK.encode() not in line:
            h.update(line)
    return h.hexdigest()


MARK = b'<p class="generated">generated 2025-01-01</p>'


@pytest.mark.parametrize("data", [
    b"", MARK, b"a\n" + MARK, MARK + b"\n", b"a\r\n" + MARK + b"\r\nb", b"a\r" + MARK + b"\rb\n" + MARK,
    MARK + MARK + b"\n" + MARK, b"x" + MARK + b"y\r\n\r\nz", b"\n\n" + MARK + b"\r\r", b"a" + MARK + b"\r",
    b"<html>\n<body>\n" + MARK + b"\n<p>text</p>\n</body>\n</html>\n", b"no mark\nat all\n"])
def test_a_page_digest_is_the_hash_of_its_other_lines(data):
    assert manifest.bytes_digest(data) == _line_by_line(data)


def test_the_written_pages_digest_as_line_by_line(report_dir):
    for page in sorted(report_dir.rglob("*.html")):
        data = page.read_bytes()
        assert manifest.bytes_digest(data) == _line_by_line(data), page.name


def test_event_rows_are_the_rows_groupby_gives(offline_result):
    for frame in (offline_result.car, offline_result.ar, offline_result.skipped[:0]):
        rows = pages.EventRows(frame)
        expected = dict(tuple(frame.groupby("event_id", sort=True)))
        assert set(expected) == {e for e in frame["event_id"].unique() if e in rows}
        for eid, sub in expected.items():
            pd.testing.assert_frame_equal(rows.get(eid), sub)
        assert rows.get("no-such-event") is None


@pytest.mark.parametrize("value", ["a&b<c>d'e\"f", "", "plain 1.234", "&amp;", "ü <&> ü", "''\"\"&&",
                                   Markup("<b>kept</b>"), 3, -2.5, None])
def test_table_cells_are_escaped_as_markupsafe_does(value):
    from markupsafe import escape
    assert str(pages._escape(value)) == str(escape(value))
