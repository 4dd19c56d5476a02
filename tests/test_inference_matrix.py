"""The array entry points of eventstudy.inference (GroupMatrix, WindowCars, group_tests_matrix,
pair_bootstrap_matrix) give exactly the numbers of the frame entry points."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.inference import (
    GROUP_COLUMNS,
    GroupMatrix,
    WindowCars,
    group_tests,
    group_tests_matrix,
    pair_bootstrap,
    pair_bootstrap_matrix,
)
from tests.test_inference import simulate

WINDOWS = [(0, 0), (-1, 1), (0, 3), (2, 2)]


def _gapped(seed, n):
    rng = np.random.default_rng(seed)
    panel, cars = simulate(rng, N=n, T=60, L=7, effect=0.3, windows=WINDOWS[:3],
                           offsets=rng.integers(0, 40, n))
    panel.loc[rng.random(len(panel)) < 0.05, "abnormal_return"] = np.nan
    return panel, cars


def _arrays(panel, cars):
    """The matrices an engine holds, built independently of inference's pivot."""
    keys = sorted(set(zip(panel.event_id, panel.series)))
    col = {k: i for i, k in enumerate(keys)}
    days = np.sort(panel.rel_day.unique())
    D, P = len(days), len(keys)
    ar, var = np.full((D, P), np.nan), np.full((D, P), np.nan)
    est, evt = np.zeros((D, P), bool), np.zeros((D, P), bool)
    date = np.full((D, P), np.datetime64("NaT"), dtype="datetime64[ns]")
    dof = np.full(P, np.nan)
    for r in panel.itertuples(index=False):
        i, j = int(np.searchsorted(days, r.rel_day)), col[(r.event_id, r.series)]
        ar[i, j], var[i, j], date[i, j], dof[j] = r.abnormal_return, r.ar_var, r.date, r.dof
        est[i, j], evt[i, j] = r.phase == "estimation", r.phase == "event"
    group = GroupMatrix.from_arrays(pd.MultiIndex.from_tuples(keys), days, ar, var, est, evt,
                                    date, dof)
    wins = []
    for s, e in WINDOWS:
        sub = cars[(cars.window_start == s) & (cars.window_end == e)]
        if sub.empty:
            wins.append(WindowCars.from_day(group, s))
            continue
        j = [col[k] for k in zip(sub.event_id, sub.series)]
        w = WindowCars(s, e, *(np.full(P, np.nan) for _ in range(4)))
        w.car[j], w.car_var[j], w.dof[j], w.n_days[j] = (sub[c].to_numpy(float) for c in
                                                         ("car", "car_var", "dof", "n_days"))
        wins.append(w)
    return group, wins


@pytest.mark.parametrize("seed, n", [(1, 4), (2, 25)])
def test_matrix_entry_point_is_bitwise_the_frame_one(seed, n):
    panel, cars = _gapped(seed, n)
    group, wins = _arrays(panel, cars)
    a = group_tests(panel, cars, WINDOWS, n_boot=300, seed=seed)
    b = group_tests_matrix(group, wins, n_boot=300, seed=seed)
    assert list(b.columns) == GROUP_COLUMNS
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_take_is_the_group_of_the_chosen_pairs():
    panel, cars = _gapped(3, 12)
    group, wins = _arrays(panel, cars)
    cols = np.array([0, 3, 4, 9])
    keep = set(group.keys[cols])
    p2 = panel[[k in keep for k in zip(panel.event_id, panel.series)]]
    c2 = cars[[k in keep for k in zip(cars.event_id, cars.series)]]
    sub = group.take(cols)
    # the sub-panel's rel_day union may be smaller: compare statistics, not the matrices
    a = group_tests(p2, c2, WINDOWS, n_boot=200)
    b = group_tests_matrix(sub, [w.take(cols) for w in wins], n_boot=200)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    mask = np.zeros(len(group.keys), bool)
    mask[cols] = True
    assert group.take(mask).keys.equals(sub.keys)


def test_from_arrays_refuses_unsorted_pairs_and_bad_shapes():
    panel, cars = _gapped(4, 3)
    g, _ = _arrays(panel, cars)
    args = [g.days, g.ar, g.var, g.is_est, g.is_evt, g.date, g.dof]
    with pytest.raises(ValueError, match="sorted"):
        GroupMatrix.from_arrays(g.keys[::-1], *args)
    with pytest.raises(ValueError, match="shape"):
        GroupMatrix.from_arrays(g.keys, g.days, g.ar[:, :2], *args[2:])
    with pytest.raises(ValueError, match="both"):
        GroupMatrix.from_arrays(g.keys, g.days, g.ar, g.var, g.is_est, g.is_est | g.is_evt,
                                g.date, g.dof)


def test_pair_bootstrap_matrix_is_bitwise_pair_bootstrap():
    panel, cars = _gapped(5, 30)
    cars = cars.copy()
    cars.loc[cars.index[::7], "n_days"] -= 1             # a window with a missing day
    cars.loc[cars.index[3], "car"] = np.nan
    keys = sorted(set(panel.event_id))
    est = panel[panel.phase == "estimation"]
    days = np.arange(est.rel_day.min() - 3, est.rel_day.max() + 1)   # NaN padding in front
    x = np.full((len(keys), len(days)), np.nan)
    x[[keys.index(e) for e in est.event_id], est.rel_day - days[0]] = est.abnormal_return
    wide = cars.pivot(index="event_id", columns=["window_start", "window_end"])
    p, m = pair_bootstrap_matrix(x, wide["car"].loc[keys].to_numpy(),
                                 wide["n_days"].loc[keys].to_numpy())
    for i, e in enumerate(keys):
        one = pair_bootstrap(panel[panel.event_id == e], cars[cars.event_id == e])
        order = [list(wide["car"].columns).index((s, t)) for s, t in
                 zip(one.window_start, one.window_end)]
        np.testing.assert_array_equal(p[i, order], one.p_value.to_numpy())
        np.testing.assert_array_equal(m[i, order], one.n.to_numpy())
    assert np.isnan(p).sum() >= 1 and (m > 0).sum() > 0.9 * m.size


def _gather_bootstrap_p(x, n_boot, seed):
    """The resample-and-gather form of the group bootstrap (one window), as first written."""
    n = len(x)
    t = x.mean() / (x.std(ddof=1) / np.sqrt(n))
    y = x - x.mean()
    yb = y[np.random.default_rng(seed).integers(0, n, size=(n_boot, n))]
    sb = yb.std(axis=1, ddof=1)
    keep = sb > 1e-10 * x.std(ddof=1)
    tb = yb.mean(axis=1)[keep] / (sb[keep] / np.sqrt(n))
    return (np.count_nonzero(np.abs(tb) >= abs(t) * (1 - 1e-10)) + 1) / (len(tb) + 1)


@pytest.mark.parametrize("n", [5, 6, 9, 13, 40, 200])
def test_count_matrix_bootstrap_equals_the_gather_form_with_and_without_ties(n):
    rng = np.random.default_rng(n)
    for rep in range(8):
        x = rng.standard_normal((n, 3)) + 0.3
        x[:, 1] = np.round(x[:, 1], 0)                      # heavy ties
        x[: n // 2, 2] = x[0, 2]                             # half the values equal
        P = n            # every pair in each window (fewer: tests/test_inference_group_once.py)
        car = x.copy()
        keys = pd.MultiIndex.from_tuples([("E", f"S{i:03d}") for i in range(P)])
        days = np.array([-3, -2, 0])
        ev = np.zeros((3, P), bool)
        ev[2] = True
        g = GroupMatrix.from_arrays(keys, days, np.zeros((3, P)), np.ones((3, P)), ~ev, ev,
                                    np.tile(np.arange(3)[:, None], (1, P)), np.full(P, 9.0))
        wins = [WindowCars(k, k + 1, car[:, k], np.ones(P), np.full(P, 9.0), np.ones(P))
                for k in range(3)]
        out = group_tests_matrix(g, wins, tests=["bootstrap"], n_boot=499, seed=rep)
        for k in range(3):
            if np.isnan(out.statistic[k]):
                continue
            assert out.p_value[k] == _gather_bootstrap_p(x[:, k], 499, rep), (rep, k)
