"""The group battery at scale (issue #9): work shared between groups and windows must not
change a number. A sub-group taken from a bigger matrix (its per-pair ranks and KP rows come
from the root) gives the very same rows as the same pairs built on their own; windows with as
many pairs share one bootstrap draw and give the p-value each would alone; the ranks are
pandas' average ranks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import inference
from eventstudy.inference import GroupMatrix, WindowCars, group_tests_matrix


def _group(rng, n_events=4, n_sec=40, T=60):
    """Event-major pairs over shifted calendars, random gaps in both phases, a few ties."""
    days = np.arange(-T - 3, 4)
    est = days < -3
    D, P = len(days), n_events * n_sec
    common = rng.standard_normal(D + 40)
    shift = np.repeat(np.arange(n_events) * 7, n_sec)
    ar = 0.5 * common[np.arange(D)[:, None] + shift[None, :]] + rng.standard_normal((D, P))
    ar[rng.random((D, P)) < 0.02] = np.nan
    ar[D - 2, :5] = 0.0                                  # ties on an event day
    date = np.arange(D)[:, None] + shift[None, :] + 19_000
    s2 = np.nanvar(ar[est], axis=0, ddof=1)
    var = np.where(est[:, None], s2, s2 * 1.02)
    is_est = np.broadcast_to(est[:, None], (D, P)) & np.isfinite(ar)
    is_evt = np.broadcast_to(~est[:, None], (D, P)) & np.isfinite(ar)
    date = np.where(is_est | is_evt, date, inference._NO_DATE)
    keys = pd.MultiIndex.from_product([[f"E{i}" for i in range(n_events)],
                                       [f"S{j:03d}" for j in range(n_sec)]])
    g = GroupMatrix.from_arrays(keys, days, ar, var, is_est, is_evt, date, np.full(P, T - 2.0))
    wins = [WindowCars.from_day(g, d) for d in range(0, 4)]
    rows = (days >= 0) & (days <= 2)
    car = np.nansum(ar[rows], axis=0)
    car[np.isnan(ar[rows]).any(axis=0)] = np.nan          # a gap: no CAR for that pair
    wins.append(WindowCars(0, 2, car, 3.06 * s2, np.full(P, T - 2.0), np.full(P, 3.0)))
    return g, wins


def _fresh(g: GroupMatrix, cols) -> GroupMatrix:
    return GroupMatrix.from_arrays(g.keys[cols], g.days, g.ar[:, cols], g.var[:, cols],
                                   g.is_est[:, cols], g.is_evt[:, cols], g.date[:, cols],
                                   g.dof[cols])


@pytest.mark.parametrize("kp_exact_max", [2000, 10])
def test_a_sub_group_of_a_root_gives_the_rows_of_the_same_pairs_on_their_own(kp_exact_max):
    g, wins = _group(np.random.default_rng(1))
    kw = dict(n_boot=199, seed=3, kp_exact_max=kp_exact_max, min_n={}, oversized=())
    group_tests_matrix(g, wins, **kw)                    # fills the root's per-pair caches
    for cols in (np.arange(40, 80), np.arange(0, 160, 3)):
        shared = group_tests_matrix(g.take(cols), [w.take(cols) for w in wins], **kw)
        alone = group_tests_matrix(_fresh(g, cols), [w.take(cols) for w in wins], **kw)
        pd.testing.assert_frame_equal(shared, alone, check_exact=True)
        assert shared.statistic.notna().sum() > 0.8 * len(shared)
    sub = g.take(np.arange(40, 160)).take(np.arange(0, 120, 2))     # a sub-group of a sub-group
    cols = np.arange(40, 160)[np.arange(0, 120, 2)]
    pd.testing.assert_frame_equal(
        group_tests_matrix(sub, [w.take(cols) for w in wins], **kw),
        group_tests_matrix(_fresh(g, cols), [w.take(cols) for w in wins], **kw), check_exact=True)


def test_windows_with_as_many_pairs_share_a_draw_and_keep_their_own_p_value():
    g, wins = _group(np.random.default_rng(2), n_events=2, n_sec=60)
    P = len(g.keys)
    a, b = np.full(P, np.nan), np.full(P, np.nan)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(P) + 0.2
    a[:100], b[20:120] = x[:100], x[20:120] * 1.5 - 0.1        # other pairs, the same N
    wa = WindowCars(0, 0, a, np.ones(P), np.full(P, 50.0), np.ones(P))
    wb = WindowCars(1, 1, b, np.ones(P), np.full(P, 50.0), np.ones(P))
    both = group_tests_matrix(g, [wa, wb], tests=["bootstrap"], n_boot=499, seed=8)
    one = pd.concat([group_tests_matrix(g, [w], tests=["bootstrap"], n_boot=499, seed=8)
                     for w in (wa, wb)], ignore_index=True)
    pd.testing.assert_frame_equal(both, one, check_exact=True)
    assert both.p_value.iloc[0] != both.p_value.iloc[1]


def test_column_ranks_are_pandas_average_ranks():
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((50, 30)), 1)        # many ties
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 3] = np.nan
    x[:, 4] = 1.0
    x[5, 6] = np.inf
    expect = pd.DataFrame(np.where(np.isfinite(x), x, np.nan)).rank(method="average").to_numpy()
    got = inference._column_ranks(x)
    np.testing.assert_array_equal(got, expect)
