"""Safe to share and interrupt (issue #12, items 11-16): hostile text, interrupted builds, two
runs at once, full or read-only folders, file modes and symlinks, and the inputs that used to
end in a traceback.

Runs go through the real CLI: in-process (CliRunner) where a fault can be injected by
replacing one function, in a subprocess where two processes or a killed one are the point.
A study of one series and one model keeps each run to a second or two.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy import atomic
from eventstudy.cli import main

REPO = Path(__file__).resolve().parents[1]
HEADER = "event_id,announced_at,time_precision,title,category,tags,source\n"
ROWS = [
    "liberation-day,2025-04-02T16:00:00-04:00,hour,Liberation Day,escalation,japan,"
    "https://example.org/a\n",
    "tariff-pause,2025-04-09T13:18:00-04:00,minute,90-day pause,de-escalation,japan,"
    "https://example.org/b\n",
    "us-japan-talks-1,2025-04-16T17:30:00-04:00,hour,First talks,negotiation,japan,"
    "https://example.org/c\n",
]
EXTRA = ("extra-event,2025-05-01T19:00:00-04:00,hour,An extra event,negotiation,japan,"
         "https://example.org/d\n")
CONFIG = """\
[study]
series = ["N225"]
models = ["constant_mean"]
n_boot = 100

[series.N225]
source = "yahoo"
ticker = "^N225"
calendar = "XTKS"
"""


def run_args(events="events.csv", *extra):
    return ["run", "--offline", "--events", events, "--config", "study.toml", "--out", "out",
            "--cache", "cache", *extra]


@pytest.fixture
def study(tmp_path, monkeypatch) -> Path:
    (tmp_path / "events.csv").write_text(HEADER + "".join(ROWS), "utf-8")
    (tmp_path / "events-y.csv").write_text(HEADER + "".join(ROWS) + EXTRA, "utf-8")
    (tmp_path / "study.toml").write_text(CONFIG, "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVENTSTUDY_CACHE", raising=False)
    return tmp_path


def invoke(*args, env=None):
    res = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in res.output, res.output
    return res


def ok(*args):
    res = invoke(*args)
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def one_error(res, code=2) -> str:
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("EVENTSTUDY_CACHE", None)
    return env


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "eventstudy.cli", *args]


# -- 11: control characters in what the tool prints -------------------------------------------

def test_events_list_strips_terminal_escapes(study):
    hostile = ('evil,2025-04-02T16:00:00-04:00,hour,"Title\x1b[2J\x1b]0;pwned\x07 \x1b[31mred'
               '\x1b[0m\rback\x08",esc\x1b[8mhidden,,https://example.org/e\n')
    (study / "events.csv").write_text(HEADER + hostile, "utf-8")
    res = ok("events", "list")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", res.output), repr(res.output)
    assert "Title red back" in res.output and "eschidden" in res.output


# -- 12: an interrupted build never leaves a lying report --------------------------------------

def test_interrupted_page_build_is_rebuilt_with_the_earlier_inputs(study, monkeypatch):
    """Inputs X build the report; a run of inputs Y is interrupted once index.html is in place
    (Ctrl-C while the files are renamed into place, as a kill could be); rerunning X must
    rebuild index.html, not call Y's page current."""
    ok(*run_args())
    assert "extra-event" not in (study / "out" / "index.html").read_text("utf-8")

    real = os.replace
    calls = []

    def interrupted(src, dst, *args, **kwargs):
        if str(dst).endswith(".html"):
            calls.append(dst)
            if len(calls) == 2:
                raise KeyboardInterrupt      # Ctrl-C after the first page is in place
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    res = CliRunner().invoke(main, run_args("events-y.csv"))
    monkeypatch.setattr(atomic.os, "replace", real)
    assert res.exit_code != 0
    assert "extra-event" in (study / "out" / "index.html").read_text("utf-8")
    assert not temporaries(study / "out")

    res = ok(*run_args())
    index = (study / "out" / "index.html").read_text("utf-8")
    assert "extra-event" not in index, res.output
    alignment = pd.read_csv(study / "out" / "results" / "alignment.csv")
    assert set(alignment["event_id"]) == {r.split(",")[0] for r in ROWS}
    assert re.search(r"rebuilt [1-9]\d* pages", res.output), res.output
    assert not temporaries(study / "out")


def test_crash_while_writing_the_outputs_leaves_them_all_as_they_were(study, monkeypatch):
    """A crash (or a full disk) while the results and pages of inputs Y are written: every
    output is still X's, byte for byte (results and pages appear together or not at all)."""
    ok(*run_args())
    before = snapshot(study / "out")
    real = atomic.write_bytes

    def crash_on_index(path, data):
        if str(path).endswith("index.html"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", crash_on_index)
    line = one_error(invoke(*run_args("events-y.csv")))
    assert line.endswith("index.html: No space left on device"), line
    after = snapshot(study / "out")
    before.pop(".eventstudy-run.json")
    assert after == before
    assert not temporaries(study / "out")


def test_run_record_needs_every_output_as_written(study):
    """The 'nothing changed' shortcut checks the outputs on disk, not only the inputs."""
    ok(*run_args())
    assert "nothing changed" in ok(*run_args()).output
    page = study / "out" / "events" / "tariff-pause.html"
    page.write_text("tampered", "utf-8")
    res = ok(*run_args())
    assert "nothing changed" not in res.output
    assert "events/tariff-pause.html" in res.output
    assert "tampered" not in page.read_text("utf-8")


# -- 13: two runs at once ----------------------------------------------------------------------

def test_a_second_run_waits_for_the_first(study):
    """One process holds the output folder; a run started meanwhile says it waits (one line)
    and finishes after the holder let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from eventstudy.lock import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(4)",
         str(study / "out")], env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    proc = subprocess.run(cli(*run_args()), env=subprocess_env(), capture_output=True,
                          text=True, timeout=120, cwd=study)
    holder.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == \
        f"waiting for another eventstudy run using {(study / 'out').resolve()} to finish"
    assert time.monotonic() - started > 1.5


def test_two_runs_at_once_leave_one_consistent_report(study):
    """Runs of inputs X and Y started together: the pages and the CSVs are of the same one."""
    procs = [subprocess.Popen(cli(*run_args(name)), env=subprocess_env(), cwd=study,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("events.csv", "events-y.csv")]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    out = study / "out"
    in_csv = set(pd.read_csv(out / "results" / "alignment.csv")["event_id"])
    pages = {p.stem for p in (out / "events").glob("*.html")}
    assert pages == in_csv
    assert ("extra-event" in (out / "index.html").read_text("utf-8")) == \
        ("extra-event" in in_csv)


# -- 14: full or read-only folders --------------------------------------------------------------

def test_full_disk_while_writing_results_is_one_line_and_keeps_the_outputs(study, monkeypatch):
    ok(*run_args())
    before = snapshot(study / "out")
    real = atomic.atomic_path

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(atomic, "atomic_path", full)
    line = one_error(invoke(*run_args("events-y.csv")))
    assert line == f"error: cannot write {Path('out/results/alignment.csv').resolve()}: " \
                   "No space left on device" or line.startswith("error: cannot write out"), line
    monkeypatch.setattr(atomic, "atomic_path", real)
    after = snapshot(study / "out")
    after.pop(".eventstudy-run.json", None)
    before.pop(".eventstudy-run.json", None)
    assert after == before


def _mount_tmpfs(path: Path, size: str = "4m") -> None:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                         capture_output=True)
    if res.returncode:
        pytest.skip("cannot mount a tmpfs here (not root?)")


@pytest.fixture
def mounts():
    done = []
    yield done
    for path in reversed(done):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_read_only_output_folder_is_one_line_and_keeps_the_outputs(study, mounts):
    out = study / "out"
    _mount_tmpfs(out, "32m")
    mounts.append(out)
    ok(*run_args())
    before = snapshot(out)
    subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    line = one_error(invoke(*run_args("events-y.csv")))
    assert "Read-only file system" in line and line.startswith("error: cannot write out"), line
    assert snapshot(out) == before


def test_full_output_folder_is_one_line_and_no_lying_report(study, mounts):
    """A disk that fills up in the middle of the pages: one line, exit 2, no temporary file,
    and the next run (with space again) does not call anything current that is not."""
    from eventstudy.report import plotly_js
    out = study / "out"
    _mount_tmpfs(out, f"{len(plotly_js()) // 1024 + 64}k")   # plotly.min.js and a little more
    mounts.append(out)
    line = one_error(invoke(*run_args()))
    assert "No space left on device" in line, line
    assert not temporaries(out)
    subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)
    res = ok(*run_args())
    assert "nothing changed" not in res.output
    assert (out / "index.html").is_file()


def test_read_only_cache_still_runs_on_bundled_data(study, mounts):
    cache = study / "cache"
    _mount_tmpfs(cache)
    mounts.append(cache)
    subprocess.run(["mount", "-o", "remount,ro", str(cache)], check=True)
    res = invoke(*run_args())
    assert res.exit_code == 0, res.output
    assert "warning: the cache folder cache is not writable" in res.stderr, res.stderr
    assert (study / "out" / "index.html").is_file()


def test_identical_results_are_not_rewritten(study):
    ok(*run_args())
    csv = study / "out" / "results" / "car.csv"
    mtime = csv.stat().st_mtime_ns
    time.sleep(0.02)
    ok(*run_args("events.csv", "--force"))
    assert csv.stat().st_mtime_ns == mtime


# -- 15: modes and symlinks ---------------------------------------------------------------------

def test_outputs_follow_the_umask(study):
    old = os.umask(0o002)
    try:
        ok(*run_args())
    finally:
        os.umask(old)
    for path in [study / "out" / "index.html", study / "out" / "results" / "car.csv",
                 study / "out" / "assets" / "plotly.min.js"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o664, path


def test_events_add_keeps_the_mode_and_writes_through_a_symlink(study):
    real = study / "shared" / "events.csv"
    real.parent.mkdir()
    shutil.move(study / "events.csv", real)
    os.chmod(real, 0o664)
    (study / "events.csv").symlink_to(real)
    ok("events", "add", "--id", "new-one", "--at", "2025-05-01T19:00:00-04:00", "--title", "T",
       "--category", "negotiation", "--source", "https://example.org/x")
    assert (study / "events.csv").is_symlink()
    assert "new-one" in real.read_text("utf-8")
    assert stat.S_IMODE(real.stat().st_mode) == 0o664


# -- 16: what used to end in a traceback --------------------------------------------------------

def test_event_id_too_long_is_one_line(study):
    long_id = "x" * 240
    (study / "events.csv").write_text(HEADER + ROWS[0].replace("liberation-day", long_id),
                                      "utf-8")
    line = one_error(invoke(*run_args()))
    assert line == ("error: events.csv, row 2, field event_id: event_id is 240 characters "
                    "long; at most 100 (it names the event's report page)")


def test_cache_env_pointing_at_a_file_is_one_line(study):
    (study / "not-a-folder").write_text("x")
    res = invoke("run", "--offline", "--events", "events.csv", "--config", "study.toml",
                 "--out", "out", env={"EVENTSTUDY_CACHE": str(study / "not-a-folder")})
    assert one_error(res) == (f"error: {study / 'not-a-folder'}: is a file, not a folder "
                              "(EVENTSTUDY_CACHE)")


def test_results_being_a_file_is_one_line(study):
    (study / "out").mkdir()
    (study / "out" / "results").write_text("x")
    assert one_error(invoke(*run_args())) == (
        "error: out/results: is a file, not a folder (the report writes a folder results/ "
        "there)")


@pytest.mark.parametrize("option", ["--events", "--config"])
def test_a_device_as_an_input_file_is_one_line(study, option):
    args = run_args()
    args[args.index(option) + 1] = "/dev/zero"
    res = invoke(*args)
    assert one_error(res) == (f"error: /dev/zero: is not a regular file (a device or a pipe?): "
                              f"{option} needs a file")


def test_close_time_in_a_repeated_daylight_saving_hour():
    from eventstudy.calendars import session_closes
    from eventstudy.config import SeriesConfig
    series = SeriesConfig(id="X", name="X", source="csv", calendar="24/7", close_time="01:30",
                          close_tz="America/New_York")
    closes = session_closes(series)
    # 2024-11-03 01:30 happens twice in New York; the first (EDT, UTC-4) is taken
    assert closes.loc["2024-11-03"] == pd.Timestamp("2024-11-03 05:30", tz="UTC")
    assert closes.loc["2024-11-04"] == pd.Timestamp("2024-11-04 06:30", tz="UTC")


def test_leftover_temporary_files_are_cleaned(study):
    ok(*run_args())
    left = [study / "out" / "events" / ".tariff-pause.html.abcd1234.tmp",
            study / "out" / "results" / ".car.csv.k_9zQ2xy.tmp",
            study / "cache" / ".N225.parquet.a1b2c3d4.tmp"]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    keep = study / "out" / "my-notes.tmp"
    keep.write_text("not ours")
    ok(*run_args())
    assert not any(p.exists() for p in left)
    assert keep.exists()


def test_killed_run_leaves_no_lying_report(study):
    """SIGKILL in the middle of a run of Y (once its index.html is written), then X again:
    X's report, whole. (The in-process test above injects the same fault deterministically;
    this one is the real kill.)"""
    ok(*run_args())
    index = study / "out" / "index.html"
    proc = subprocess.Popen(cli(*run_args("events-y.csv", "--force")), env=subprocess_env(),
                            cwd=study, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and "extra-event" not in index.read_text("utf-8"):
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    res = ok(*run_args())
    assert "nothing changed" not in res.output
    assert "extra-event" not in index.read_text("utf-8")
    assert not (study / "out" / "events" / "extra-event.html").exists()
    assert not temporaries(study / "out")
