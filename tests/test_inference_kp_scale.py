"""Kolari-Pynnonen r-bar at scale: the date-sums estimator equals the pairwise one on complete
data, says so on the row, and the whole battery needs memory linear in pairs x days."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from eventstudy.inference import ALL_GROUP_TESTS, GroupMatrix, WindowCars, group_tests_matrix

WINDOWS = [(0, 0), (-1, 1), (-3, 2), (1, 1)]


def _complete(rng, n_pairs, T=80, shifts=(0, 2, 3, 9), rho=0.4):
    """Every pair has the same T estimation dates; event dates differ by cluster (shifted by
    0, 2, 3, 9 business days: windows overlap partly or not at all)."""
    days = np.arange(-T - 4, 4)
    D = len(days)
    est = days < -4
    common = rng.standard_normal(len(days) + 20)
    P = n_pairs
    clusters = np.arange(P) % len(shifts)
    ar = np.sqrt(rho) * common[:D, None] + np.sqrt(1 - rho) * rng.standard_normal((D, P))
    ar[~est] += 0.2
    date = np.tile(np.arange(D)[:, None], (1, P)) + 10_000
    date[~est] += np.asarray(shifts)[clusters]
    s2 = ar[est].var(axis=0, ddof=1)
    var = np.where(est[:, None], s2, s2 * (1 + 1 / T))
    keys = pd.MultiIndex.from_tuples([(f"E{i:05d}", "S") for i in range(P)])
    is_est = np.broadcast_to(est[:, None], (D, P))
    g = GroupMatrix.from_arrays(keys, days, ar, var, is_est, ~is_est, date, np.full(P, T - 1.0))
    wins = []
    for a, b in WINDOWS:
        rows = (days >= a) & (days <= b)
        L = float(rows.sum())
        wins.append(WindowCars(a, b, ar[rows].sum(0), s2 * (L + L * L / T), np.full(P, T - 1.0),
                               np.full(P, L)))
    return g, wins


@pytest.mark.parametrize("mode", ["overlap", "estimation"])
def test_date_sums_equal_the_pairwise_r_bar_on_complete_data(mode):
    g, wins = _complete(np.random.default_rng(3), 60)
    tests = ["patell", "bmp", "kp_patell", "kp_bmp"]
    exact = group_tests_matrix(g, wins, oversized=(), tests=tests, kp_correlation=mode)
    sums = group_tests_matrix(g, wins, oversized=(), tests=tests, kp_correlation=mode,
                              kp_exact_max=59)
    kp = exact.test.str.startswith("kp")
    assert not exact.note.str.contains("KP r-bar").any()
    assert sums.note[kp].str.endswith("KP r-bar from date sums (n > 59)").all()
    assert not sums.note[~kp].str.contains("KP r-bar").any()
    # KP shrinks Patell: the residuals share a factor (not a vacuous comparison)
    assert (exact.statistic[kp].abs().to_numpy() < exact.statistic[~kp].abs().to_numpy()).all()
    np.testing.assert_allclose(sums.statistic, exact.statistic, rtol=1e-10, atol=0)
    np.testing.assert_allclose(sums.p_value, exact.p_value, rtol=1e-9, atol=1e-300)


def test_the_whole_battery_at_twenty_thousand_pairs_needs_no_pairs_by_pairs_matrix():
    # a P x P float64 matrix would take 3.2 GB here; the inputs take about 40 MB
    g, wins = _complete(np.random.default_rng(5), 20_000, T=30)
    tracemalloc.start()
    out = group_tests_matrix(g, wins, oversized=(), n_boot=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 400e6, peak / 1e6
    assert len(out) == len(WINDOWS) * len(ALL_GROUP_TESTS)
    assert out.set_index("test").loc["kp_patell", "note"].str.contains("date sums").all()
