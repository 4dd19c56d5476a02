"""What a run of the bundled study imports (issue #12, item 7: cold start).

The seconds are measured by benchmarks/bench_run.py, not here; these tests hold the imports
that made them: a full run and a run with one new event never import arch, statsmodels,
scipy.stats (~0.5 s together, through arch's and statsmodels' own imports) or plotly (the
pages embed the figures' JSON), nor exchange_calendars once today's session tables are stored
(the config's calendar check reads them too), nor pyarrow.dataset (one Parquet file is read
with ParquetFile), and the one new event's run fits GARCH only for its new pairs (the others
come from the memo). The CLI freezes what it imported (gc.freeze: collections do not walk the
numeric stack again and again).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_NEEDED = ("arch", "statsmodels", "scipy.stats", "plotly", "numba", "exchange_calendars",
              "pyarrow.dataset")
NEW_EVENT = ("bench-new-event,2025-10-01T16:00:00-04:00,hour,A copy of an event,"
             "escalation,japan,https://example.org/new")

CODE = f"""
import gc
import sys
from eventstudy import models
calls = []
real = models.garch11_qmle
models.garch11_qmle = lambda y: calls.append(len(y)) or real(y)
from eventstudy.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
print("imported", *sorted(m for m in {NOT_NEEDED!r} if m in sys.modules), file=sys.stderr)
print("garch fits", len(calls), file=sys.stderr)
print("frozen", gc.get_freeze_count(), file=sys.stderr)
"""


def run(folder: Path) -> tuple[list[str], int]:
    """What the run imported of NOT_NEEDED, and its number of GARCH fits."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ARCH_DISABLE_NUMBA", None)
    env["EVENTSTUDY_CACHE"] = str(folder / "cache")          # the calendars' tables too
    res = subprocess.run([sys.executable, "-c", CODE, "run", "--offline", "--quiet",
                          "--events", "events.csv", "--out", "out", "--cache", "cache"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    imported = next(x for x in lines if x.startswith("imported")).split()[1:]
    fits = int(next(x for x in lines if x.startswith("garch fits")).split()[-1])
    assert int(next(x for x in lines if x.startswith("frozen")).split()[-1]) > 10_000
    return imported, fits


def test_a_run_and_one_new_event_import_only_what_they_use(tmp_path):
    events = tmp_path / "events.csv"
    events.write_bytes((REPO / "events.csv").read_bytes())
    imported, fits = run(tmp_path)
    assert imported == ["exchange_calendars"]     # the calendars are built (and stored)
    assert fits > 30                      # every (event, series) of the garch model
    header = events.read_text("utf-8").splitlines()[0].split(",")
    with open(events, "a", encoding="utf-8") as fh:
        fh.write(NEW_EVENT + "," * (len(header) - 7) + "\n")
    imported, new_fits = run(tmp_path)
    assert imported == []                 # today's session tables are stored: no calendar built
    assert new_fits == 2                  # the new event x (N225, USDJPY): nothing refitted


def test_the_calendar_check_trusts_only_codes_built_before(tmp_path, monkeypatch):
    """The config's calendar check skips importing exchange_calendars for a code whose
    session table was stored (calendars.known_calendar); any other code is checked in full."""
    import pytest

    from eventstudy import calendars
    from eventstudy.config import SeriesConfig, parse_config
    from eventstudy.errors import InputError
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path))
    calendars._session_closes.cache_clear()
    assert not calendars.known_calendar("XTKS")
    calendars.session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XTKS"))
    assert calendars.known_calendar("XTKS")                      # today's table
    assert calendars.known_calendar("XTKS", "15:00", "Asia/Tokyo")   # its mark: any rule
    assert not calendars.known_calendar("XTKZ")
    text = '[study]\nseries = ["A"]\n[series.A]\nsource = "csv"\npath = "a.csv"\ncalendar = "XTKZ"\n'
    with pytest.raises(InputError, match="unknown calendar 'XTKZ'"):
        parse_config(text, "study.toml")
    calendars._session_closes.cache_clear()


def test_a_file_hashed_again_in_one_process_is_read_again_when_it_changed(tmp_path, monkeypatch):
    """runstate.file_hash keeps this process's hashes by the file's inode, size, mtime and
    ctime: a rewrite of the same size (a ctime later) is hashed anew, and so is any file
    changed in the last seconds (a quick second write can keep a coarse timestamp)."""
    import hashlib
    import time

    from eventstudy import runstate
    path = tmp_path / "events.csv"
    path.write_bytes(b"aaaa")
    assert runstate.file_hash(path) == hashlib.sha256(b"aaaa").hexdigest()
    path.write_bytes(b"bbbb")                        # at once, same size: not from memory
    assert runstate.file_hash(path) == hashlib.sha256(b"bbbb").hexdigest()
    later = time.time_ns() + 60 * 10 ** 9            # as if the file were a minute old
    monkeypatch.setattr(runstate.time, "time_ns", lambda: later)
    assert runstate.file_hash(path) == hashlib.sha256(b"bbbb").hexdigest()   # kept now
    time.sleep(0.01)
    path.write_bytes(b"cccc")                        # a new ctime: a new key
    assert runstate.file_hash(path) == hashlib.sha256(b"cccc").hexdigest()
    assert runstate.tree(tmp_path) == {"events.csv": [4, hashlib.sha256(b"cccc").hexdigest()]}
