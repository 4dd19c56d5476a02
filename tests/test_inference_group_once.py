"""The group battery's per-group definitions (decided for issue #9's 5,000 x 100 study):

* Corrado-Zivney and GRANK re-standardize each day over every pair of the group observed that
  day, and rank each pair once per group; a window uses its own pairs' ranks;
* the group bootstrap draws n_boot x N indices once for the group's N pairs; a window with
  fewer pairs uses, in each resample, the draws that fall on its own pairs.

Each is checked against a slow, literal implementation (pandas ranks, a loop over resamples)
on a small group with missing bars, so that windows differ in their pairs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eventstudy.inference import GroupMatrix, WindowCars, group_tests_matrix

EST_END = -6


def _group(seed=0, P=14, holes=0.08):
    rng = np.random.default_rng(seed)
    days = np.arange(-40, 6)
    D = len(days)
    est = np.broadcast_to((days <= EST_END)[:, None], (D, P)).copy()
    evt = ~est
    ar = rng.standard_normal((D, P)) * rng.uniform(0.5, 2.0, P)
    var = np.broadcast_to(rng.uniform(0.5, 2.0, P) ** 2, (D, P)).copy()
    miss = rng.random((D, P)) < holes                 # missing bars, event days included
    miss[:, 0] = False                                # one pair always there
    ar[miss] = np.nan
    est &= ~miss
    evt &= ~miss
    date = 19000 + np.arange(D)[:, None] + np.zeros(P, np.int64)
    keys = pd.MultiIndex.from_tuples([(f"e{i:02d}", "s") for i in range(P)])
    g = GroupMatrix.from_arrays(keys, days, ar, var, est, evt, date, np.full(P, 30.0))
    wins = [WindowCars.from_day(g, d) for d in range(0, 4)]
    # a 3-day CAR window: NaN for a pair missing any of its days
    rows = (days >= 0) & (days <= 2)
    car = ar[rows].sum(axis=0)
    wins.append(WindowCars(0, 2, car, var[0] * 3.3, np.full(P, 30.0), np.full(P, 3.0)))
    # a window every pair has (a CAR over the days each pair has)
    rows = (days >= 0) & (days <= 5)
    wins.append(WindowCars(0, 5, np.nansum(ar[rows], axis=0), var[0] * 6.6, np.full(P, 30.0),
                           np.isfinite(ar[rows]).sum(axis=0).astype(float)))
    return g, wins


def _rows(g, wins, **kw):
    out = group_tests_matrix(g, wins, min_n={}, oversized=(), **kw)
    return out.set_index(["window_start", "window_end", "test"])


def _sar(g):
    with np.errstate(invalid="ignore"):
        s = g.ar / np.sqrt(g.var)
    return pd.DataFrame(np.where(np.isfinite(s), s, np.nan))


def _restandardize(sar: pd.DataFrame) -> pd.DataFrame:
    """Each day (row) divided by its cross-sectional sd over the pairs observed that day."""
    sd = sar.std(axis=1, ddof=1)
    sd[sar.notna().sum(axis=1) < 2] = np.nan
    return sar.div(sd, axis=0)


def _slow_cz(g, w):
    u = _restandardize(_sar(g))                       # every pair of the group
    ranks = u.rank(axis=0, method="average")
    scaled = ranks / (u.notna().sum(axis=0) + 1.0) - 0.5
    sel = np.isfinite(w.car)
    k = scaled.loc[:, sel]
    n_t = k.notna().sum(axis=1)
    kbar = k.mean(axis=1)
    used = n_t > 0
    T = int(used.sum())
    s2 = float((n_t[used] * kbar[used] ** 2).sum() / T)
    inw = used & pd.Series((g.days >= w.start) & (g.days <= w.end))
    stat = kbar[inw].sum() / (math.sqrt(s2) * math.sqrt((1.0 / n_t[inw]).sum()))
    return float(kbar[inw].mean()), float(stat), int(sel.sum())


def _slow_grank(g, w):
    sar = _sar(g).where(pd.DataFrame(g.is_est))
    sar = _restandardize(sar)                         # every pair of the group
    sar = sar[sar.notna().any(axis=1)]
    scar = w.car / np.sqrt(w.car_var)
    sel = np.isfinite(scar) & (w.car_var > 0)
    v = scar[sel] / scar[sel].std(ddof=1)
    cols = np.flatnonzero(sel)
    u, u0 = [], []
    for i, vi in zip(cols, v):                        # each pair: est SARs and its v, ranked
        s = sar[i].dropna()
        r = pd.concat([s, pd.Series([vi], index=["v"])]).rank(method="average")
        scaled = r / (len(s) + 2.0) - 0.5
        u.append(scaled.drop("v").rename(i))
        u0.append(scaled["v"])
    U = pd.concat(u, axis=1)
    n = len(cols)
    ubar = U.mean(axis=1)
    n_t = U.notna().sum(axis=1)
    T = int((n_t > 0).sum()) + 1
    u0 = float(np.mean(u0))
    s2 = ((n_t * ubar ** 2).sum() / n + u0 * u0) / T
    z = u0 / math.sqrt(s2)
    t = z * math.sqrt((T - 2) / (T - 1 - z * z))
    return u0, t, float(2 * stats.t.sf(abs(t), T - 2)), n


def _slow_bootstrap(g, w, n_boot, seed):
    N = len(g.keys)
    sel = np.isfinite(w.car)
    x = w.car[sel]
    n = len(x)
    t = x.mean() / (x.std(ddof=1) / math.sqrt(n))
    y = np.where(sel, w.car - x.mean(), np.nan)
    idx = np.random.default_rng(seed).integers(0, N, (n_boot, N))
    hits = kept = 0
    for b in range(n_boot):
        vals = y[idx[b]]
        vals = vals[np.isfinite(vals)]                # the draws on the window's own pairs
        if len(vals) < 2 or len(np.unique(vals)) == 1:
            continue
        tb = vals.mean() / (vals.std(ddof=1) / math.sqrt(len(vals)))
        kept += 1
        hits += abs(tb) >= abs(t) * (1 - 1e-10)
    return (hits + 1) / (kept + 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cz_rank_restandardizes_over_the_whole_group(seed):
    g, wins = _group(seed)
    assert any(np.isfinite(w.car).sum() < len(g.keys) for w in wins)   # windows miss pairs
    rows = _rows(g, wins, tests=["cz_rank"])
    for w in wins:
        est, stat, n = _slow_cz(g, w)
        r = rows.loc[(w.start, w.end, "cz_rank")]
        assert r["n"] == n
        assert r["estimate"] == pytest.approx(est, rel=1e-12, abs=1e-14)
        assert r["statistic"] == pytest.approx(stat, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grank_ranks_once_per_group(seed):
    g, wins = _group(seed)
    rows = _rows(g, wins, tests=["grank"])
    for w in wins:
        u0, t, p, n = _slow_grank(g, w)
        r = rows.loc[(w.start, w.end, "grank")]
        assert r["n"] == n
        assert r["estimate"] == pytest.approx(u0, rel=1e-12, abs=1e-14)
        assert r["statistic"] == pytest.approx(t, rel=1e-12)
        assert r["p_value"] == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_bootstrap_draws_once_per_group(seed):
    g, wins = _group(seed, P=25)
    counts = {int(np.isfinite(w.car).sum()) for w in wins}
    assert len(g.keys) in counts and len(counts) > 2     # full and partial windows
    rows = _rows(g, wins, tests=["bootstrap"], n_boot=400, seed=7)
    for w in wins:
        p = _slow_bootstrap(g, w, 400, 7)
        assert rows.loc[(w.start, w.end, "bootstrap"), "p_value"] == pytest.approx(p, rel=1e-12)


def test_bootstrap_of_a_window_lacking_pairs_with_ties():
    """Tied CARs: a resample whose draws on the window's pairs are all one value is left out."""
    g, wins = _group(4, P=30)
    rng = np.random.default_rng(4)
    car = np.round(rng.standard_normal(30), 0)           # heavy ties
    car[:3] = np.nan                                     # three pairs without a CAR
    w = WindowCars(0, 1, car, np.ones(30), np.full(30, 30.0), np.full(30, 2.0))
    rows = _rows(g, [w, wins[-1]], tests=["bootstrap"], n_boot=500, seed=3)
    assert rows.loc[(0, 1, "bootstrap"), "p_value"] == pytest.approx(
        _slow_bootstrap(g, w, 500, 3), rel=1e-12)


def test_every_pair_in_every_window_changes_nothing_per_window():
    """With no missing bar, a sub-selection of windows gives the rows it gives in the whole
    battery: the group-level work is the window's own (same pairs)."""
    g, wins = _group(3, holes=0.0)
    whole = _rows(g, wins, tests=["cz_rank", "grank", "bootstrap"], n_boot=300)
    for w in wins:
        one = _rows(g, [w], tests=["cz_rank", "grank", "bootstrap"], n_boot=300)
        mine = (whole.index.get_level_values(0) == w.start) & \
            (whole.index.get_level_values(1) == w.end)
        pd.testing.assert_frame_equal(one, whole[mine], check_exact=True)
