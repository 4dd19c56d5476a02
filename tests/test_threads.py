"""An in-process study on the fused kernel runs its slabs on a few threads, and a few
independent steps side by side (the firm-event file while the prices are read, the car and
pair-test frames, their Holm/BH, the excluded rows while aligning): every frame must be
bitwise the one of the sequential run, whatever the number of threads."""
import threading

import numpy as np
import pandas as pd
import pytest

from eventstudy import engine, multitest, panel, run_study, study
from eventstudy.errors import InputError
from eventstudy.executors import kernel_threads, side_by_side
from tests.test_firm_fastpath import FRAMES, _case

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threads")
    events, config = _case(folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("EVENTSTUDY_FASTPATH", "on")
    # small blocks and no size thresholds: every threaded path runs on this small case
    mp.setattr(engine, "BLOCK_PAIRS", 17)
    mp.setattr(multitest, "SIDE_BY_SIDE_ROWS", 0)
    mp.setattr(study, "SIDE_BY_SIDE_EVENTS", 0)
    mp.setattr(panel, "THREADED_CELLS", 0)
    seen = []
    real = engine.study_slab
    mp.setattr(engine, "study_slab",
               lambda *a: seen.append(threading.current_thread().name) or real(*a))
    out = {}
    for threads in (1, 2, 3):
        mp.setenv("EVENTSTUDY_THREADS", str(threads))
        before = len(seen)
        r = run_study(events, config, offline=True, cache_dir=folder / f"cache-{threads}",
                      memoize=False)
        out[threads] = ({f: getattr(r, f) for f in FRAMES + ["firm_events", "gaps"]},
                        seen[before:])
    mp.undo()
    return out


def test_the_slabs_ran_on_the_threads_asked_for(runs):
    """The study's slabs on the pool; `result.panel`'s residuals, computed again when read,
    on the reader's thread."""
    one, two, three = (runs[t][1] for t in (1, 2, 3))
    assert len(one) > 8 and len(one) == len(two) == len(three)     # the same partitions
    assert all(name == "MainThread" for name in one)
    for threads, names in ((2, two), (3, three)):
        pool = [n for n in names if n != "MainThread"]
        assert len(pool) > 8 and all(n.startswith("eventstudy-slab") for n in pool)
        assert 1 <= len(set(pool)) <= threads
        assert len(names) - len(pool) < len(pool)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("frame", FRAMES + ["firm_events", "gaps"])
def test_threaded_frames_are_bitwise_the_sequential_ones(runs, threads, frame):
    pd.testing.assert_frame_equal(runs[threads][0][frame], runs[1][0][frame],
                                  check_exact=True)


def test_the_case_has_bootstrap_rows_and_skips(runs):
    frames = runs[2][0]
    assert frames["tests"]["test"].eq("bootstrap").sum() > 100
    assert frames["tests"]["p_holm"].notna().sum() > 100
    assert len(frames["skipped"]) > 5


def test_a_bad_firm_event_file_is_still_reported(tmp_path, monkeypatch):
    events, config = _case(tmp_path)
    monkeypatch.setattr(study, "SIDE_BY_SIDE_EVENTS", 0)
    text = (tmp_path / "firm.csv").read_text().splitlines()
    text[3] = text[3].replace("F00", "F00,extra", 1)          # a ragged row
    (tmp_path / "firm.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match="firm.csv"):
        run_study(events, config, offline=True, cache_dir=tmp_path / "cache", memoize=False)


def test_a_bad_firm_file_is_reported_before_a_bad_universe(tmp_path):
    """Both broken: the firm-event file's error first, as when it was read first."""
    events, config = _case(tmp_path)
    (tmp_path / "firm.csv").write_text("event_id,security\n")       # no announced_at
    (tmp_path / "prices.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="firm.csv"):
        run_study(events, config, offline=True, cache_dir=tmp_path / "cache", memoize=False)


def test_kernel_threads_reads_the_environment(monkeypatch):
    monkeypatch.setenv("EVENTSTUDY_THREADS", "3")
    assert kernel_threads() == 3
    monkeypatch.setenv("EVENTSTUDY_THREADS", "nonsense")
    assert 1 <= kernel_threads() <= 4
    monkeypatch.delenv("EVENTSTUDY_THREADS")
    assert 1 <= kernel_threads() <= 4


@pytest.mark.parametrize("threads", [False, True])
def test_side_by_side_keeps_the_order_and_raises(threads):
    names = []
    out = side_by_side(lambda: names.append(threading.current_thread().name) or 1,
                       lambda: np.arange(3), threads=threads)
    assert out[0] == 1 and list(out[1]) == [0, 1, 2]
    assert (names[0] != "MainThread") == threads
    with pytest.raises(ZeroDivisionError):
        side_by_side(lambda: 1 / 0, lambda: 2, threads=threads)


@pytest.mark.parametrize("threads", [False, True])
def test_side_by_side_raises_the_first_failing_call_in_order(threads):
    """The last call (on this thread) fails at once, the first later on its thread: the
    first call's error is the one raised, as without threads."""
    import time

    def slow_bad():
        time.sleep(0.05)
        raise KeyError("first")

    with pytest.raises(KeyError, match="first"):
        side_by_side(slow_bad, lambda: 1 / 0, threads=threads)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", ["log", "simple"])
def test_a_panel_filled_by_column_slices_is_the_one_filled_at_once(monkeypatch, shared, kind):
    """`panel._assemble` on 1, 2 and 3 threads: every array bitwise the same (gaps, a late
    first bar, an early last one, an infinite close that forces the copy of the closes)."""
    rng = np.random.default_rng(3)
    S, n = 300, 23
    values = np.asfortranarray(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (S, n)), axis=0)))
    values[rng.random((S, n)) < 0.05] = np.nan
    values[:40, 3] = np.nan
    values[250:, 5] = np.nan
    if not shared:
        values[17, 8] = np.inf
    rows = np.arange(10, 10 + S)
    has = np.isfinite(values)
    first = 10 + has.argmax(axis=0)
    last = 10 + S - 1 - has[::-1].argmax(axis=0)
    closes = pd.Series(pd.date_range("2020-01-01", periods=S + 20), dtype=object)
    out = {}
    monkeypatch.setattr(panel, "THREADED_CELLS", 0)
    for threads in (1, 2, 3):
        monkeypatch.setenv("EVENTSTUDY_THREADS", str(threads))
        assert len(panel._column_slices(S, n)) == threads
        p = panel._assemble(("k",), closes, [f"s{i}" for i in range(n)], values.copy("F"),
                            rows, first, last, kind)
        out[threads] = p
    for threads in (2, 3):
        for name in ("close", "exists", "valid", "prev", "ret", "span"):
            a, b = getattr(out[threads], name), getattr(out[1], name)
            assert a.flags.f_contiguous and a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name, strict=True)
    if not shared:                  # the infinite close is no bar
        assert np.isnan(out[1].close[17, 8]) and not out[1].valid[17, 8]
