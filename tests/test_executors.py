"""The same study in-process, on a process pool and on Dask (issue #9): identical frames.

Partitions are pure functions of plain arrays, each pair's arithmetic runs in the same order
whatever block it lands in, and the reductions (group tests, AAR) run on the driver, so the
frames are compared bitwise (`check_exact`). GARCH fits are included: their optimiser's sums
depend on the BLAS thread count, which our local workers inherit from the driver (the real
scheduler's workers are given the same settings below; docs/big-studies.md).
"""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy import load_config, load_events, run_study
from eventstudy.calendars import session_closes
from eventstudy.config import SeriesConfig, parse_config
from eventstudy.errors import InputError
from eventstudy.executors import EngineSettings, InProcess, Progress, check_settings, n_tasks

REPO = Path(__file__).resolve().parent.parent
FRAMES = ("alignment", "ar", "car", "tests", "aar", "skipped", "gaps")
N_SEC, N_EVENTS = 16, 2


def make_study(folder: Path, extra: str = "") -> tuple[Path, Path]:
    """16 securities on a market factor (a few missing bars), 2 events, three models."""
    rng = np.random.default_rng(3)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    dates = closes.loc["2023-01-03":"2024-12-31"].index
    S = len(dates)
    market = rng.normal(0.0003, 0.01, S)
    noise = rng.standard_t(5, (S, N_SEC)) * rng.uniform(0.01, 0.03, N_SEC)
    prices = 50 * np.exp(np.cumsum(market[:, None] * rng.uniform(0.5, 1.5, N_SEC) + noise, 0))
    prices[rng.random((S, N_SEC)) < 0.003] = np.nan
    wide = pd.DataFrame(prices, columns=[f"S{i:03d}" for i in range(N_SEC)])
    wide.insert(0, "date", dates.strftime("%Y-%m-%d"))
    wide.to_csv(folder / "prices.csv", index=False)
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"),
                  "close": 3000 * np.exp(np.cumsum(market))}).to_csv(folder / "bench.csv",
                                                                     index=False)
    pd.DataFrame({"event_id": ["ev0", "ev1"],
                  "announced_at": ["2024-05-14 10:00 America/New_York",
                                   "2024-09-18 17:30 America/New_York"],
                  "title": "synthetic", "category": "test", "source": "https://example.org"}
                 ).to_csv(folder / "events.csv", index=False)
    (folder / "study.toml").write_text(
        '[study]\nmodels = ["constant_mean", "market_model", "garch"]\nuniverses = ["u"]\n'
        'n_boot = 200\n\n[series.BENCH]\nsource = "csv"\npath = "bench.csv"\n'
        'calendar = "XNYS"\n\n[universe.u]\nprices = "prices.csv"\nlayout = "wide"\n'
        'calendar = "XNYS"\nbenchmark = "BENCH"\n\n[groups.pooled]\nuniverse = "u"\n'
        '\n[groups.by_event]\nuniverse = "u"\nby = ["event_id"]\n' + extra)
    return folder / "events.csv", folder / "study.toml"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("executors")
    events, config = make_study(folder)
    return folder, load_events(events), load_config(config)


def _run(study, executor=None, **kw):
    folder, events, config = study
    return run_study(events, config, offline=True, cache_dir=folder / "cache", memoize=False,
                     executor=executor, **kw)


@pytest.fixture(scope="module")
def reference(study):
    return _run(study)


def assert_same(a, b):
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True,
                                      obj=name)


def test_reference_is_a_real_study(reference):
    """The comparison is worth something: every model studied most pairs, tests ran."""
    car = reference.car
    assert set(car["model"]) == {"constant_mean", "market_model", "garch"}
    assert len(reference.alignment) == N_SEC * N_EVENTS
    assert car.groupby("model")["event_id"].count().min() >= 3 * 26     # 3 windows, most pairs
    assert (reference.tests["group"] != "").sum() > 100
    assert reference.gaps["kind"].eq("missing bar").any()


def test_process_pool_gives_identical_frames(study, reference):
    """Two spawned processes, four tasks each per model (the block cut in eight)."""
    assert n_tasks(N_SEC * N_EVENTS, 2, 20_000) == 4       # 8 tasks per model
    assert_same(reference, _run(study, EngineSettings(workers=2)))


def test_the_fast_path_on_a_process_pool_gives_the_in_process_frames(study, monkeypatch):
    """The fused kernel in spawned workers gives bitwise the frames of one process (the path
    itself is chosen once on the driver, engine.PartitionConfig.fast_models, so a partition
    smaller than the fast path's threshold cannot take the other path)."""
    pytest.importorskip("numba")
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")        # the spawned workers inherit it
    assert_same(_run(study), _run(study, EngineSettings(workers=2)))


@pytest.mark.parametrize("threads", ["1", "2"])
def test_group_batteries_on_threads_give_the_sequential_frames(study, reference, monkeypatch,
                                                              threads):
    """After the largest group, the batteries run on `EVENTSTUDY_THREADS` threads (each a
    pure function of its pairs): the same frames as one after another, and they did run on
    the pool (the reference ran with the machine's default, which is 2 here or 1)."""
    import threading

    from eventstudy import inference
    monkeypatch.setenv("EVENTSTUDY_THREADS", threads)
    seen = []
    real = inference.group_tests_matrix
    monkeypatch.setattr(inference, "group_tests_matrix",
                        lambda *a, **k: seen.append(threading.current_thread().name)
                        or real(*a, **k))
    assert_same(reference, _run(study))
    pool = [n for n in seen if n.startswith("eventstudy-groups")]
    assert len(seen) >= 3 * 2          # 3 models, the pooled group and at least one event
    assert (len(pool) > 0) == (threads == "2")


def test_dask_local_cluster_gives_identical_frames(study, reference):
    pytest.importorskip("distributed")
    assert_same(reference, _run(study, EngineSettings(dask="local")))


def test_callers_own_executor(study, reference):
    """Any concurrent.futures executor will do (the caller opens and closes it)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        pool.workers = 2
        assert_same(reference, _run(study, pool))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_scheduler_and_two_workers(study, reference, tmp_path):
    """The docs' recipe: `dask scheduler`, two `dask worker`s, `eventstudy run --scheduler`.

    The workers run without a nanny, so they keep this process's BLAS settings (a nanny pins
    one thread, which changes GARCH's optimiser sums); the CSVs written are byte-identical to
    those of the in-process run."""
    pytest.importorskip("distributed")
    folder = study[0]
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    procs = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", str(port),
                                      "--dashboard-address", ":0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(port)
        for _ in range(2):
            procs.append(subprocess.Popen(worker + [address, "--nthreads", "1", "--no-nanny",
                                                    "--dashboard-address", ":0"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_workers(address, 2)
        out = tmp_path / "reports"
        done = subprocess.run(
            [sys.executable, "-m", "eventstudy.cli", "run", "--offline", "--events",
             str(folder / "events.csv"), "--config", str(folder / "study.toml"), "--out",
             str(out), "--cache", str(tmp_path / "cache"), "--scheduler", address, "-q"],
            env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    expected = reference.write_csvs(tmp_path / "expected")
    for path in expected:
        if path.stem in FRAMES:
            assert (out / "results" / path.name).read_bytes() == path.read_bytes(), path.name


def _wait_for(port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the dask scheduler did not start")


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=60)


# -- results on disk ---------------------------------------------------------------------------

def test_ar_on_disk_reads_back_as_the_in_memory_frame(study, reference, tmp_path):
    r = _run(study, dataset_dir=tmp_path)
    store = r.ar_store
    assert reference.ar_store is None and store is not None
    pd.testing.assert_frame_equal(r.ar, reference.ar, check_exact=True)
    pd.testing.assert_frame_equal(r.aar, reference.aar, check_exact=True)
    assert len(store) == len(reference.ar)
    pd.testing.assert_frame_equal(r.panel, reference.panel, check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ar", "panel"]
    # one folder per event, one file per (security block, model); atomic writes left no temp
    folders = sorted(p.name for p in (tmp_path / "ar").iterdir())
    assert folders == ["event=0000", "event=0001"]
    assert not list((tmp_path / "ar").rglob("*.tmp"))
    one = store.read(event_id="ev1")
    want = reference.ar[reference.ar["event_id"] == "ev1"].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, want, check_exact=True)
    two = store.read(event_id="ev0", series="S003", columns=["rel_day", "abnormal_return"])
    sel = reference.ar[(reference.ar["event_id"] == "ev0") & (reference.ar["series"] == "S003")]
    pd.testing.assert_frame_equal(two, sel[["rel_day", "abnormal_return"]]
                                  .reset_index(drop=True), check_exact=True)
    assert store.read(event_id="nope").empty


def test_config_threshold_sends_ar_to_a_temporary_dataset(tmp_path, reference):
    events, config = make_study(tmp_path, "\n[engine]\nar_in_memory_rows = 0\n")
    r = run_study(load_events(events), load_config(config), offline=True,
                  cache_dir=tmp_path / "cache", memoize=False)
    assert r.ar_store is not None and r.ar_store.root.is_dir()
    pd.testing.assert_frame_equal(r.ar, reference.ar, check_exact=True)
    # reading `ar` writes the AR rows only: the estimation panel (ten times as many rows)
    # waits until `panel` is read
    out = dict(zip(r.panel_source.__code__.co_freevars,
                   (c.cell_contents for c in r.panel_source.__closure__)))["out"]
    panel_root = out.lazy_panel.root          # the panel's own temporary dataset
    assert list(r.ar_store.root.rglob("*.parquet")) and not list(panel_root.rglob("*.parquet"))
    pd.testing.assert_frame_equal(r.panel, reference.panel, check_exact=True)
    fig = r.plot("ev1", "S003")             # one event's folder read, the same chart
    assert fig.to_json() == reference.plot("ev1", "S003").to_json()
    root = r.ar_store.root
    del r, out
    import gc
    gc.collect()
    assert not root.exists()        # the temporary dataset goes with the result



def test_cli_run_with_ar_on_disk_writes_the_same_results(tmp_path, monkeypatch):
    """`eventstudy run` on a study whose AR rows go to a Parquet dataset: the dataset is
    written when first read, which is inside the report's atomic batch (results and pages
    appear together); its files must be written at once, not staged with the report's (a
    staged file does not exist yet: the run failed with FileNotFoundError). Its results are
    byte for byte those of the same run with the ARs in memory."""
    from click.testing import CliRunner

    from eventstudy.cli import main
    events, config = make_study(tmp_path)
    disk = tmp_path / "disk.toml"
    disk.write_text(config.read_text() + "\n[engine]\nar_in_memory_rows = 0\n")
    outs = {}
    from eventstudy import store
    reads = []
    whole = store.PartitionedFrame.frame
    monkeypatch.setattr(store.PartitionedFrame, "frame",
                        lambda self, *a, **k: reads.append(1) or whole(self, *a, **k))
    for name, cfg in (("memory", config), ("disk", disk)):
        res = CliRunner().invoke(main, ["run", "--offline", "--events", str(events),
                                        "--config", str(cfg), "--out", str(tmp_path / name),
                                        "--cache", str(tmp_path / f"cache-{name}")])
        assert res.exit_code == 0, res.output
        outs[name] = tmp_path / name / "results"
    csvs = sorted(p.name for p in outs["memory"].glob("*.csv"))
    assert "ar.csv" in csvs and csvs == sorted(p.name for p in outs["disk"].glob("*.csv"))
    for name in csvs:
        assert (outs["disk"] / name).read_bytes() == (outs["memory"] / name).read_bytes(), name
    ar = pd.read_parquet(outs["disk"] / "ar.parquet")
    assert len(ar) > 1000 and ar.equals(pd.read_parquet(outs["memory"] / "ar.parquet"))
    assert not list(tmp_path.rglob("*.tmp"))
    # the whole dataset is read for ar.csv, ar.parquet and the pages, not once per page
    assert len(reads) == 3

# -- settings ----------------------------------------------------------------------------------

BASE = ('[study]\nseries = ["A"]\n[series.A]\nsource = "csv"\npath = "a.csv"\n'
        'calendar = "XNYS"\n')


@pytest.mark.parametrize("engine, words", [
    ('workers = "two"', "engine.workers: must be a whole number of worker processes"),
    ("workers = 0", "engine.workers: must be a whole number"),
    ('dask = "remote"', "engine.dask: must be \"local\""),
    ('scheduler = "8786"', "engine.scheduler: must be a scheduler address"),
    ('workers = 2\ndask = "local"', "engine.workers and engine.dask are both given: choose"),
    ("wokers = 2", "did you mean 'workers'"),
])
def test_engine_table_errors(engine, words):
    with pytest.raises(InputError) as err:
        parse_config(BASE + "[engine]\n" + engine + "\n", "study.toml")
    assert words in str(err.value) and str(err.value).startswith("study.toml")


def test_engine_table_values():
    c = parse_config(BASE + '[engine]\nscheduler = "tcp://10.0.0.5:8786"\n', "s.toml")
    assert c.engine == EngineSettings(scheduler="tcp://10.0.0.5:8786")
    assert c.engine.kind == "dask-scheduler"
    assert parse_config(BASE + "[engine]\nworkers = 3\n", "s.toml").engine.workers == 3
    assert parse_config(BASE, "s.toml").engine is None
    assert check_settings(workers=1).kind == "in-process"


def test_cli_refuses_two_engines(tmp_path):
    from click.testing import CliRunner

    from eventstudy.cli import main
    events, config = make_study(tmp_path)
    res = CliRunner().invoke(main, ["run", "--offline", "--events", str(events), "--config",
                                    str(config), "--out", str(tmp_path / "r"), "--workers",
                                    "2", "--dask", "local"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == (
        "error: --workers and --dask are both given: choose one (workers for a process pool, "
        "dask for a LocalCluster, scheduler for a running Dask scheduler)")
    assert not (tmp_path / "r" / "results").exists()


# -- the executor and the progress line --------------------------------------------------------

def test_in_process_executor_is_synchronous():
    ex = InProcess()
    f = ex.submit(divmod, 7, 2)
    assert f.done() and f.result() == (3, 1)
    bad = ex.submit(divmod, 1, 0)
    with pytest.raises(ZeroDivisionError):
        bad.result()
    assert list(ex.map(abs, [-1, 2])) == [1, 2]


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_silent_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, stream=stream, delay=0, rate=1e9)
    for _ in range(10):
        bar.add_part()
        bar.advance(1)
    bar.close()
    assert stream.getvalue() == ""


def test_progress_on_a_terminal_counts_partitions():
    stream = _Tty()
    bar = Progress(10, stream=stream, delay=0, rate=1e9)
    for _ in range(4):
        bar.add_part()
    bar.advance(3, part=False)               # memo hits: pairs done, no partition
    for _ in range(4):
        bar.advance(1)
    bar.close()
    lines = stream.getvalue().split("\r")
    assert "3/10 pair-models (0/4 partitions)" in lines[1]
    assert "7/10 pair-models (4/4 partitions)" in lines[-1] and lines[-1].endswith("\n")
    assert "ETA 0:00" in lines[-1]
    quiet = _Tty()
    bar = Progress(10, stream=quiet, enabled=False, delay=0)
    bar.advance(10)
    bar.close()
    assert quiet.getvalue() == ""


def test_study_progress_writes_nothing_to_a_pipe(study, capfd):
    _run(study, progress=True)
    assert "studying [" not in capfd.readouterr().err
