"""The group battery runs a test at a time over every window and drops that test's cached
work before the next test: the rows must not depend on it, and a test must not find the
previous tests' (GB-sized at scale) work still held."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.bench_inference import synthetic_group, with_missing_bars
from eventstudy import inference
from eventstudy.inference import ALL_GROUP_TESTS, group_tests_matrix


@pytest.fixture(scope="module")
def group():
    g, wins = synthetic_group(40, 6, seed=3)
    return with_missing_bars(g, wins, 0.02)


def _battery(g, wins, tests):
    return group_tests_matrix(g, wins, tests=tests, n_boot=199, seed=5, min_n={},
                              oversized=())


def test_each_test_alone_gives_the_battery_rows(group):
    g, wins = group
    whole = _battery(g, wins, ALL_GROUP_TESTS)
    alone = pd.concat([_battery(g, wins, (t,)) for t in ALL_GROUP_TESTS], ignore_index=True)
    alone["_w"] = alone.groupby("test").cumcount()        # the window's place
    alone["_t"] = alone["test"].map({t: i for i, t in enumerate(ALL_GROUP_TESTS)})
    alone = alone.sort_values(["_w", "_t"]).drop(columns=["_w", "_t"])
    pd.testing.assert_frame_equal(whole, alone.reset_index(drop=True), check_exact=True)
    # rows: window-major, tests in the given order
    assert list(whole["test"][:len(ALL_GROUP_TESTS)]) == list(ALL_GROUP_TESTS)
    assert len(whole) == len(wins) * len(ALL_GROUP_TESTS)


def test_reversed_order_gives_the_same_rows(group):
    g, wins = group
    tests = ALL_GROUP_TESTS[::-1]
    back = _battery(g, wins, tests)
    fwd = _battery(g, wins, ALL_GROUP_TESTS)
    key = ["window_start", "window_end", "test"]
    pd.testing.assert_frame_equal(back.sort_values(key).reset_index(drop=True),
                                  fwd.sort_values(key).reset_index(drop=True),
                                  check_exact=True)


def test_a_test_starts_without_the_previous_tests_work(group, monkeypatch):
    g, wins = group
    seen = {}          # test -> owners of the cache entries present when it first caches
    cached = inference._Context.cached

    def spy(self, name, sel, make):
        if self.test not in seen:
            seen[self.test] = {o for o in (self._owner or {}).values()}
        return cached(self, name, sel, make)
    monkeypatch.setattr(inference._Context, "cached", spy)
    _battery(g, wins, ALL_GROUP_TESTS)
    assert {"kp", "corrado_rank", "cz_rank", "grank", "bootstrap"} <= set(seen)
    for test, owners in seen.items():
        assert owners <= {test}, (test, owners)


def test_the_two_kp_tests_share_their_work(group, monkeypatch):
    g, wins = group
    made = []
    base = inference._date_sums_base
    monkeypatch.setattr(inference, "_date_sums_base", lambda *a: made.append(1) or base(*a))
    monkeypatch.setattr(inference, "KP_EXACT_MAX", 0)
    group_tests_matrix(g, wins, tests=("kp_patell", "kp_bmp"), min_n={}, oversized=(),
                       kp_exact_max=0)
    once = len(made)
    made.clear()
    group_tests_matrix(g, wins, tests=("kp_bmp",), min_n={}, oversized=(), kp_exact_max=0)
    assert once == len(made) > 0         # kp_patell added no second computation


def test_the_tests_kept_on_the_root_are_the_ones_that_keep_work_there(group, monkeypatch):
    g, wins = group
    kept = []
    per_pair = inference.GroupMatrix.per_pair
    monkeypatch.setattr(inference.GroupMatrix, "per_pair",
                        lambda self, name, make: kept.append(name) or per_pair(self, name, make))
    for t in ALL_GROUP_TESTS:
        kept.clear()
        sub = g.take(np.arange(len(g.keys)))         # a fresh root: nothing cached yet
        group_tests_matrix(sub, wins, tests=(t,), min_n={}, oversized=(), kp_exact_max=0,
                           n_boot=99)
        assert bool(kept) == (t in inference._KEPT_ON_ROOT), (t, kept)


def test_the_tests_kept_on_the_root_run_last(group, monkeypatch):
    g, wins = group
    order = []
    cached = inference._Context.cached

    def spy(self, name, sel, make):
        if not order or order[-1] != self.test:
            order.append(self.test)
        return cached(self, name, sel, make)
    monkeypatch.setattr(inference._Context, "cached", spy)
    _battery(g, wins, ALL_GROUP_TESTS)
    root = [i for i, t in enumerate(order) if t in {"kp", "corrado_rank", "generalized_sign"}]
    assert root and min(root) > max(i for i, t in enumerate(order) if i not in root), order


def test_the_threaded_batteries_run_with_one_blas_thread(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from eventstudy import engine
    if not threadpoolctl.threadpool_info():
        pytest.skip("no BLAS thread pool found")
    monkeypatch.setenv("EVENTSTUDY_THREADS", "2")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # as on a 2-core machine
        seen = engine._map_batteries(
            lambda cols: max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                             if i["user_api"] == "blas"), [[0], [1], [2], [3]])
        after = max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                    if i["user_api"] == "blas")
    assert seen[0] == 2 and after == 2          # the first (the largest) alone: BLAS as set
    assert seen[1:] == [1, 1, 1]                # the others on our threads: one BLAS thread
