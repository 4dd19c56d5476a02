"""Tests of eventstudy.inference: hand computations, identities, a size/power simulation and
hypothesis invariants. Expected values are computed step by step in numpy from the formulas in
docs/methods-tests.md, never by calling the function under test a second time."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.linalg import hadamard

from eventstudy import inference
from eventstudy.inference import (
    ALL_GROUP_TESTS,
    GROUP_COLUMNS,
    OUTPUT_COLUMNS,
    pair_bootstrap,
    residual_correlation,
)


def group_tests(*args, **kwargs):
    """The statistics themselves: every test reported, the over-rejecting ones included
    (inference.OVERSIZED withholds them by default; tests/test_oversized.py checks that)."""
    return inference.group_tests(*args, **{"oversized": (), **kwargs})

BDAYS = pd.bdate_range("2010-01-04", periods=6000)


# --------------------------------------------------------------------------------------------
# inputs-construction helper: the model layer's frames for a constant-mean model (k = 1)
# --------------------------------------------------------------------------------------------

def frames_from_ars(est_ar, ev_ar, windows=(), *, sigma2=None, offsets=None, event_ids=None,
                    series=None, est_days=None, ev_days=None):
    """(panel, cars) from residual matrices est_ar (T x N) and ev_ar (L x N), NaN = missing.

    Constant-mean model (X = iota, k = 1): sigma2_i = sum e^2 / (T_i - 1), dof = T_i - 1,
    event ar_var = sigma2 (1 + 1/T_i), car_var over n present days = sigma2 (n + n^2 / T_i).
    Pair i's row for day index j (estimation then event days) is dated BDAYS[offsets[i] + j].
    """
    est_ar = np.asarray(est_ar, float)
    ev_ar = np.asarray(ev_ar, float)
    T, N = est_ar.shape
    L = ev_ar.shape[0]
    ev_days = np.arange(-(L // 2), L - L // 2) if ev_days is None else np.asarray(ev_days)
    est_days = np.arange(ev_days[0] - T, ev_days[0]) if est_days is None else np.asarray(est_days)
    n_est = np.isfinite(est_ar).sum(0)
    if sigma2 is None:
        sigma2 = np.nansum(est_ar ** 2, 0) / (n_est - 1)
    sigma2 = np.broadcast_to(np.asarray(sigma2, float), (N,))
    dof = n_est - 1
    offsets = np.arange(N) * 15 if offsets is None else np.asarray(offsets)
    event_ids = [f"E{i:03d}" for i in range(N)] if event_ids is None else list(event_ids)
    series = ["S"] * N if series is None else list(series)
    days = np.concatenate([est_days, ev_days])
    D = len(days)
    ar = np.vstack([est_ar, ev_ar])
    var = np.vstack([np.broadcast_to(sigma2, (T, N)),
                     np.broadcast_to(sigma2 * (1 + 1 / n_est), (L, N))])
    pos = offsets[None, :] + np.arange(D)[:, None]
    panel = pd.DataFrame({
        "event_id": np.tile(np.array(event_ids, dtype=object), D),
        "series": np.tile(np.array(series, dtype=object), D),
        "phase": np.repeat(np.array(["estimation"] * T + ["event"] * L, dtype=object), N),
        "rel_day": np.repeat(days, N),
        "date": BDAYS[pos.ravel()],
        "abnormal_return": ar.ravel(),
        "ar_var": var.ravel(),
        "sigma2": np.tile(sigma2, D),
        "dof": np.tile(dof, D),
        "n_est": np.tile(n_est, D),
    })
    rows = []
    for s, e in windows:
        a = ev_ar[(ev_days >= s) & (ev_days <= e)]
        nd = np.isfinite(a).sum(0)
        rows.append(pd.DataFrame({
            "event_id": event_ids, "series": series, "window_start": s, "window_end": e,
            "car": np.where(nd > 0, np.nansum(a, 0), np.nan),
            "car_var": sigma2 * (nd + nd ** 2 / n_est), "dof": dof, "n_est": n_est,
            "n_days": nd}))
    cars = pd.concat(rows, ignore_index=True)
    return panel, cars


def simulate(rng, N=50, T=240, L=11, effect=0.0, windows=((0, 0), (-1, 1)), offsets=None):
    """i.i.d. normal returns with pair-specific volatility, constant-mean ARs, effect in sigmas."""
    vol = rng.uniform(0.5, 2.0, N)
    r = rng.standard_normal((T + L, N)) * vol
    mu = r[:T].mean(0)
    ev = r[T:] - mu
    ev[L // 2] += effect * vol
    return frames_from_ars(r[:T] - mu, ev, windows, offsets=offsets)


def row(out, test, window):
    r = out[(out.test == test) & (out.window_start == window[0]) & (out.window_end == window[1])]
    assert len(r) == 1
    return r.iloc[0]


# Small hand-typed data: 3 pairs, 5 estimation days, 3 event days (-1, 0, 1); no ties.
EST = np.array([[0.010, -0.020, 0.005],
                [-0.004, 0.012, -0.010],
                [0.007, -0.003, 0.015],
                [-0.015, 0.006, -0.002],
                [0.002, 0.005, -0.008]])
EV = np.array([[0.004, 0.011, -0.003],
               [0.025, 0.018, 0.009],
               [-0.006, 0.002, 0.004]])
W3 = (-1, 1)
W0 = (0, 0)


@pytest.fixture(scope="module")
def small():
    panel, cars = frames_from_ars(EST, EV, [W3, W0], offsets=[0, 0, 0])
    # three pairs: below several tests' minimum N (MIN_N), which is switched off to check the
    # formulas by hand
    return panel, cars, group_tests(panel, cars, [W3, W0], n_boot=999, seed=3, min_n={})


def _hand_basics():
    sigma2 = (EST ** 2).sum(0) / 4                       # T = 5, k = 1
    car = EV.sum(0)                                      # window (-1, 1)
    car_var = sigma2 * (3 + 9 / 5)
    return sigma2, car, car_var


# --------------------------------------------------------------------------------------------
# shape and conventions
# --------------------------------------------------------------------------------------------

def test_output_shape_and_columns(small):
    out = small[2]
    assert list(out.columns) == GROUP_COLUMNS == OUTPUT_COLUMNS + ["note"]
    assert len(out) == 2 * len(ALL_GROUP_TESTS)
    assert list(out.test[:len(ALL_GROUP_TESTS)]) == list(ALL_GROUP_TESTS)
    assert (out.n == 3).all()
    normal = {"patell", "kp_patell", "corrado_rank", "cz_rank", "sign", "generalized_sign",
              "wilcoxon", "bootstrap"}
    assert out[out.test.isin(normal)].dof.isna().all()
    assert out[~out.test.isin(normal)].dof.notna().all()
    assert out.p_value.between(0, 1).all()


def test_unknown_test_raises_and_a_window_without_cars_gives_nan_rows(small):
    panel, cars, _ = small
    with pytest.raises(ValueError, match="unknown test"):
        group_tests(panel, cars, [W0], tests=["t_test"])
    out = group_tests(panel, cars, [(-1, 0), (7, 7)])
    assert len(out) == 2 * len(ALL_GROUP_TESTS)
    assert (out.n == 0).all() and out.statistic.isna().all() and out.p_value.isna().all()


def test_daily_window_absent_from_cars_is_read_off_the_panel(small):
    panel, cars, out = small
    only_multi = cars[cars.window_start != cars.window_end]
    again = group_tests(panel, only_multi, [W0], n_boot=999, seed=3, min_n={})
    pd.testing.assert_frame_equal(again.reset_index(drop=True),
                                  out[out.window_start == 0].reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# parametric tests by hand
# --------------------------------------------------------------------------------------------

def test_cross_sectional_t_by_hand(small):
    _, car, _ = _hand_basics()
    np.testing.assert_allclose(car, [0.023, 0.031, 0.010])
    m = car.mean()
    s = math.sqrt(((car - m) ** 2).sum() / 2)
    t = m / (s / math.sqrt(3))
    r = row(small[2], "cross_sectional_t", W3)
    assert r.estimate == pytest.approx(m)
    assert r.statistic == pytest.approx(t)
    assert r.dof == 2
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), 2))


def test_bw_cda_by_hand(small):
    _, car, _ = _hand_basics()
    aar = EST.mean(axis=1)                               # 5 estimation-day AARs
    sd = math.sqrt(((aar - aar.mean()) ** 2).sum() / 4)
    stat = car.mean() / (math.sqrt(3) * sd)
    r = row(small[2], "bw_cda", W3)
    assert r.statistic == pytest.approx(stat)
    assert r.dof == 4                                    # T - 1 with T = 5 estimation days
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(stat), 4))


def test_patell_and_bmp_by_hand(small):
    _, car, car_var = _hand_basics()
    scar = car / np.sqrt(car_var)
    z = scar.sum() / math.sqrt(3 * (4 / (4 - 2)))        # dof_i = 4: var of t_4 is 4/2
    r = row(small[2], "patell", W3)
    assert r.estimate == pytest.approx(scar.mean())
    assert r.statistic == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    t = scar.mean() / (scar.std(ddof=1) / math.sqrt(3))
    r = row(small[2], "bmp", W3)
    assert r.statistic == pytest.approx(t)
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), 2))


def test_patell_single_pair_single_day_is_the_pair_t_rescaled():
    panel, cars = frames_from_ars(EST[:, :1], EV[:, :1], [W0])
    out = group_tests(panel, cars, [W0])
    sigma2 = (EST[:, 0] ** 2).sum() / 4
    t_pair = EV[1, 0] / math.sqrt(sigma2 * (1 + 1 / 5))  # AR / prediction-error sd ~ t_4
    r = row(out, "patell", W0)
    assert r.estimate == pytest.approx(t_pair)
    assert r.statistic == pytest.approx(t_pair / math.sqrt(4 / 2))
    assert row(out, "kp_patell", W0).statistic == pytest.approx(r.statistic)


def test_skew_t_by_hand(small):
    _, car, _ = _hand_basics()
    n = 3
    m, s = car.mean(), car.std(ddof=1)
    S = m / s
    g = n / ((n - 1) * (n - 2)) * (((car - m) / s) ** 3).sum()
    t = math.sqrt(n) * (S + g * S ** 2 / 3 + g ** 2 * S ** 3 / 27 + g / (6 * n))
    r = row(small[2], "skew_t", W3)
    assert r.statistic == pytest.approx(t)
    assert r.dof == n - 1
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 1))


def test_skew_t_is_halls_transformation_with_scipys_unbiased_skewness():
    # Hall (1992) / Lyon, Barber & Tsai (1999): sqrt(N)(S + g S^2/3 + g^2 S^3/27 + g/(6N)),
    # S = mean / sd; our g is the adjusted Fisher-Pearson G1 = scipy.stats.skew(bias=False)
    rng = np.random.default_rng(1992)
    est = rng.standard_normal((60, 20)) * 0.01
    ev = rng.lognormal(0.0, 0.8, (3, 20)) * 0.01 - 0.012          # right-skewed CARs
    panel, cars = frames_from_ars(est, ev, [W3])
    r = row(group_tests(panel, cars, [W3], tests=["skew_t"]), "skew_t", W3)
    car = ev.sum(axis=0)
    n = len(car)
    S = car.mean() / car.std(ddof=1)
    g = stats.skew(car, bias=False)
    t = math.sqrt(n) * (S + g * S ** 2 / 3 + g ** 2 * S ** 3 / 27 + g / (6 * n))
    assert g > 0.5
    assert r.statistic == pytest.approx(t, rel=1e-10)
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 1), rel=1e-10)


# --------------------------------------------------------------------------------------------
# Kolari-Pynnonen
# --------------------------------------------------------------------------------------------

def test_kp_by_hand_with_clustered_events():
    rng = np.random.default_rng(7)
    common = rng.standard_normal(60)
    est = 0.6 * common[:, None] + rng.standard_normal((60, 3))
    est[5, 1] = np.nan                                   # pairwise-complete handling
    ev = rng.standard_normal((3, 3)) + 0.8
    panel, cars = frames_from_ars(est, ev, [W3], offsets=[0, 0, 0])
    out = group_tests(panel, cars, [W3], tests=["patell", "bmp", "kp_patell", "kp_bmp"])
    r = []
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        ok = np.isfinite(est[:, i]) & np.isfinite(est[:, j])
        r.append(np.corrcoef(est[ok, i], est[ok, j])[0, 1])
    rbar = np.mean(r)
    z = row(out, "patell", W3).statistic
    t = row(out, "bmp", W3).statistic
    assert row(out, "kp_patell", W3).statistic == pytest.approx(z / math.sqrt(1 + 2 * rbar))
    assert row(out, "kp_bmp", W3).statistic == pytest.approx(
        t * math.sqrt((1 - rbar) / (1 + 2 * rbar)))
    # all pairs share the event dates: the overlap weighting is 1 and both modes agree
    lit = group_tests(panel, cars, [W3], tests=["kp_patell", "kp_bmp"],
                      kp_correlation="estimation")
    np.testing.assert_allclose(lit.statistic, out.statistic[2:].to_numpy())
    rc = residual_correlation(panel)
    assert rc.iloc[0, 1] == pytest.approx(r[0]) and rc.iloc[1, 2] == pytest.approx(r[2])


def test_kp_factor_is_one_without_correlation():
    # orthogonal zero-mean residual columns (Walsh functions): every r_ij is exactly 0
    est = hadamard(64)[:, 1:4].astype(float) * np.array([0.01, 0.02, 0.03])
    panel, cars = frames_from_ars(est, EV, [W3, W0], offsets=[0, 0, 0])
    out = group_tests(panel, cars, [W3, W0], tests=["patell", "kp_patell", "bmp", "kp_bmp"])
    for w in (W3, W0):
        assert row(out, "kp_patell", w).statistic == pytest.approx(row(out, "patell", w).statistic)
        assert row(out, "kp_bmp", w).statistic == pytest.approx(row(out, "bmp", w).statistic)


def test_kp_pairs_without_enough_common_dates_contribute_zero():
    rng = np.random.default_rng(1)
    common = rng.standard_normal(40)
    est = np.column_stack([common, common + 0.1 * rng.standard_normal(40)])
    # second pair 20 business days later: only 20 common estimation dates (< 30)
    panel, cars = frames_from_ars(est, EV[:, :2], [W3], offsets=[0, 20])
    out = group_tests(panel, cars, [W3], tests=["patell", "kp_patell"],
                      kp_correlation="estimation")
    assert out.statistic[1] == pytest.approx(out.statistic[0])
    assert np.isnan(residual_correlation(panel).iloc[0, 1])
    # with 40 common dates (offset 0) the correlation is used
    panel, cars = frames_from_ars(est, EV[:, :2], [W3], offsets=[0, 0])
    out = group_tests(panel, cars, [W3], tests=["patell", "kp_patell"])
    assert out.statistic[1] < out.statistic[0]


def test_kp_same_series_staggered_events_overlap_weighting():
    # one series seen around three events 1 business day apart: on common dates the residuals
    # are the same numbers, so r_ij = 1 wherever estimation windows overlap
    rng = np.random.default_rng(11)
    z = rng.standard_normal(80) * 0.01
    T, L, offs = 60, 3, [0, 1, 2]
    est = np.column_stack([z[o:o + T] for o in offs])
    ev = np.column_stack([z[o + T:o + T + L] for o in offs]) + 0.02
    panel, cars = frames_from_ars(est, ev, [W3, W0], offsets=offs)
    assert np.allclose(residual_correlation(panel).to_numpy(), 1.0)
    tests = ["patell", "kp_patell"]
    ov = group_tests(panel, cars, [W3, W0], tests=tests)
    lit = group_tests(panel, cars, [W3, W0], tests=tests, kp_correlation="estimation")
    # window (0, 0): the three day-0s are different dates -> no common event days -> weight 0
    assert row(ov, "kp_patell", W0).statistic == pytest.approx(row(ov, "patell", W0).statistic)
    # window (-1, 1): common dates 2, 1, 2 of 3 -> r-bar = (2/3 + 1/3 + 2/3) / 3 = 5/9
    zp = row(ov, "patell", W3).statistic
    assert row(ov, "kp_patell", W3).statistic == pytest.approx(zp / math.sqrt(1 + 2 * 5 / 9))
    # the paper's estimator takes r-bar = 1 for both windows
    for w in (W3, W0):
        assert row(lit, "kp_patell", w).statistic == pytest.approx(
            row(lit, "patell", w).statistic / math.sqrt(3))


# --------------------------------------------------------------------------------------------
# rank tests by hand
# --------------------------------------------------------------------------------------------

def _ranks(col):
    """1-based ranks of a column without ties (hand version: argsort of argsort)."""
    return np.argsort(np.argsort(col)) + 1.0


def test_corrado_rank_no_ties_matches_formula(small):
    allar = np.vstack([EST, EV])                         # 8 days x 3 pairs, days -6..1
    k = np.column_stack([_ranks(allar[:, i]) for i in range(3)])
    kbar = (k / 9 - 0.5).mean(axis=1)                    # U = K / (M + 1), centred
    s_k = math.sqrt((kbar ** 2).mean())                  # Corrado (1989) S(K), over all 8 days
    daily = kbar[6] / s_k                                # day 0 is row 6
    cowan = math.sqrt(3) * kbar[5:8].mean() / s_k        # Cowan / Campbell-Wasley multi-day
    out = small[2]
    assert row(out, "corrado_rank", W0).statistic == pytest.approx(daily)
    assert row(out, "corrado_rank", W0).estimate == pytest.approx(kbar[6])
    assert row(out, "corrado_rank", W3).statistic == pytest.approx(cowan)
    assert row(out, "corrado_rank", W3).p_value == pytest.approx(2 * stats.norm.sf(abs(cowan)))


def test_corrado_rank_with_missing_ar_uses_scaled_ranks():
    est = EST.copy()
    est[2, 2] = np.nan                                   # pair 2 has M = 7 ranked days
    panel, cars = frames_from_ars(est, EV, [W0], offsets=[0, 0, 0])
    out = group_tests(panel, cars, [W0], tests=["corrado_rank"])
    allar = np.vstack([est, EV])
    u = np.full((8, 3), np.nan)
    for i in range(3):
        ok = np.isfinite(allar[:, i])
        u[ok, i] = _ranks(allar[ok, i]) / (ok.sum() + 1) - 0.5
    n_t = np.isfinite(u).sum(1)
    kbar = np.nansum(u, 1) / n_t
    s = math.sqrt((n_t * kbar ** 2).sum() / 8)           # per-pair sd of the centred ranks
    stat = kbar[6] * math.sqrt(3) / s
    assert n_t[2] == 2
    assert out.statistic[0] == pytest.approx(stat)


def test_cz_rank_by_hand(small):
    sigma2, _, _ = _hand_basics()
    sar_est = EST / np.sqrt(sigma2)
    sar_ev = EV / np.sqrt(sigma2 * (1 + 1 / 5))
    allsar = np.vstack([sar_est, sar_ev])
    allsar = allsar / allsar.std(axis=1, ddof=1, keepdims=True)  # every day's cross-sectional sd
    k = np.column_stack([_ranks(allsar[:, i]) for i in range(3)])
    kbar = (k / 9 - 0.5).mean(axis=1)
    s_k = math.sqrt((kbar ** 2).mean())
    assert row(small[2], "cz_rank", W0).statistic == pytest.approx(kbar[6] / s_k)
    assert row(small[2], "cz_rank", W3).statistic == pytest.approx(
        math.sqrt(3) * kbar[5:8].mean() / s_k)


def test_grank_by_hand(small):
    sigma2, car, car_var = _hand_basics()
    scar = car / np.sqrt(car_var)
    scar_star = scar / scar.std(ddof=1)                  # re-standardised (event variance)
    sar = EST / np.sqrt(sigma2)
    sar = sar / sar.std(axis=1, ddof=1, keepdims=True)   # each estimation day re-standardized
    g = np.vstack([sar, scar_star])                      # 5 estimation SARs + the CAR = 6 obs
    u = np.column_stack([_ranks(g[:, i]) for i in range(3)]) / 7 - 0.5
    ubar = u.mean(axis=1)
    T = 6
    s = math.sqrt((ubar ** 2).mean())
    z = ubar[-1] / s
    t = z * math.sqrt((T - 2) / (T - 1 - z ** 2))
    r = row(small[2], "grank", W3)
    assert r.estimate == pytest.approx(ubar[-1])
    assert r.statistic == pytest.approx(t)
    assert r.dof == T - 2
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), T - 2))


# --------------------------------------------------------------------------------------------
# sign-type tests, bootstrap
# --------------------------------------------------------------------------------------------

def test_sign_all_positive(small):
    r = row(small[2], "sign", W3)                        # CARs 0.023, 0.031, 0.010
    assert r.estimate == 1.0
    assert r.statistic == pytest.approx(math.sqrt(3))    # (1 - .5) sqrt(3) / .5
    assert r.p_value == pytest.approx(2 * 0.5 ** 3)      # exact binomial


def test_generalized_sign_by_hand(small):
    p_hat = np.mean([3 / 5, 3 / 5, 2 / 5])               # positive estimation ARs per pair
    z = (3 - 3 * p_hat) / math.sqrt(3 * p_hat * (1 - p_hat))
    r = row(small[2], "generalized_sign", W3)
    assert r.estimate == 1.0
    assert r.statistic == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(z))


def test_wilcoxon_by_hand(small):
    r = row(small[2], "wilcoxon", W3)
    assert r.estimate == pytest.approx(0.023)            # median CAR
    assert r.statistic == pytest.approx((6 - 3) / math.sqrt(3 * 4 * 7 / 24))
    assert r.p_value == pytest.approx(0.25)              # exact: P(W+ = 6 or 0) = 2/8
    r = row(small[2], "wilcoxon", W0)                    # day-0 ARs .025 .018 .009: same ranks
    assert r.p_value == pytest.approx(0.25)


def test_group_bootstrap_by_hand(small):
    _, car, _ = _hand_basics()
    t_obs = car.mean() / (car.std(ddof=1) / math.sqrt(3))
    y = car - car.mean()
    idx = np.random.default_rng(3).integers(0, 3, size=(999, 3))
    yb = y[idx]
    sd = yb.std(axis=1, ddof=1)
    keep = sd > 0
    tb = yb.mean(axis=1)[keep] / (sd[keep] / math.sqrt(3))
    p = (np.sum(np.abs(tb) >= abs(t_obs)) + 1) / (keep.sum() + 1)
    r = row(small[2], "bootstrap", W3)
    assert r.statistic == pytest.approx(t_obs)
    assert r.p_value == pytest.approx(p)


def test_pair_bootstrap_by_hand():
    est = EST[:, :1].copy()
    panel, cars = frames_from_ars(est, EV[:, :1], [W3, W0])
    out = pair_bootstrap(panel, cars)
    assert list(out.columns) == OUTPUT_COLUMNS
    # (-1, 1): CAR 0.023 vs 3-day sums .013, -.012, -.006 -> none as large: p = 1/4
    assert out.estimate[0] == pytest.approx(0.023) and out.n[0] == 3
    assert out.p_value[0] == pytest.approx(1 / 4)
    # (0, 0): AR .025 vs 5 daily ARs -> p = 1/6
    assert out.p_value[1] == pytest.approx(1 / 6) and out.n[1] == 5
    # a missing estimation AR removes every window that touches it; 1-day: .010 counted
    est[3, 0] = np.nan
    ev = EV[:, :1].copy()
    ev[1, 0] = 0.008
    panel, cars = frames_from_ars(est, ev, [W3, W0])
    out = pair_bootstrap(panel, cars)
    # 3-day sums avoiding day 4: only days 1-3 (sum .013); CAR .006 -> count 1 of 1
    assert out.n[0] == 1 and out.p_value[0] == pytest.approx(2 / 2)
    # 1-day: .010, -.004, .007, .002 -> |x| >= .008: one -> (1 + 1) / (4 + 1)
    assert out.n[1] == 4 and out.p_value[1] == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="one"):
        pair_bootstrap(*frames_from_ars(EST, EV, [W0]))


# --------------------------------------------------------------------------------------------
# small N: always the same shape, NaN where a test cannot be computed
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, nan_tests", [
    (1, {"cross_sectional_t", "bmp", "kp_bmp", "cz_rank", "grank", "skew_t", "bootstrap"}),
    (2, {"skew_t"}),
])
def test_small_groups_give_nan_rows_not_errors(n, nan_tests):
    # what each formula needs (docs/methods-tests.md); MIN_N adds NaN rows on top of these
    panel, cars = frames_from_ars(EST[:, :n], EV[:, :n], [W3, W0])
    out = group_tests(panel, cars, [W3, W0], min_n={})
    assert len(out) == 2 * len(ALL_GROUP_TESTS)
    got = set(out[out.statistic.isna()].test)
    assert got == nan_tests
    assert out[out.test.isin(nan_tests)].p_value.isna().all()


def test_pair_with_missing_car_is_left_out():
    ev = EV.copy()
    ev[:, 2] = np.nan
    panel, cars = frames_from_ars(EST, ev, [W3])
    out = group_tests(panel, cars, [W3])
    assert (out.n == 2).all()


# --------------------------------------------------------------------------------------------
# simulation: size and power
# --------------------------------------------------------------------------------------------

def _rejection_rates(effect, reps, seed):
    """Share of replications with p < 5%, per (test, window); 50 pairs x (240 + 11) days."""
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(reps):
        panel, cars = simulate(rng, effect=effect, offsets=np.zeros(50, int))
        out = group_tests(panel, cars, [W0, W3], n_boot=199)
        hits.append(out.p_value.to_numpy() < 0.05)
    label = out.test + " " + out.window_start.astype(str) + "," + out.window_end.astype(str)
    return pd.Series(np.mean(hits, axis=0), index=label)


def test_size_under_the_null():
    size = _rejection_rates(0.0, 300, seed=20260101)
    assert size.between(0.01, 0.10).all(), size[~size.between(0.01, 0.10)]


def test_power_with_a_three_sigma_day0_effect():
    power = _rejection_rates(3.0, 25, seed=20260102)
    day0 = power[power.index.str.endswith(" 0,0")]
    assert (day0 > 0.9).all(), day0[day0 <= 0.9]


def test_kp_overlap_is_sized_when_one_series_is_studied_at_many_dates():
    # one series, 40 events 12 business days apart: estimation windows overlap heavily, event
    # windows never share a date
    rng = np.random.default_rng(99)
    N, T, L, gap = 30, 120, 11, 12
    hits = []
    for _ in range(80):
        z = rng.standard_normal(N * gap + T + L)
        est = np.column_stack([z[i * gap:i * gap + T] for i in range(N)])
        ev = np.column_stack([z[i * gap + T:i * gap + T + L] for i in range(N)])
        mu = est.mean(0)
        panel, cars = frames_from_ars(est - mu, ev - mu, [W0], offsets=np.arange(N) * gap)
        out = group_tests(panel, cars, [W0], tests=["patell", "kp_patell", "kp_bmp"])
        hits.append(out.p_value.to_numpy() < 0.05)
    rates = np.mean(hits, axis=0)
    assert ((rates > 0.0) & (rates < 0.12)).all(), rates


# --------------------------------------------------------------------------------------------
# invariants (hypothesis)
# --------------------------------------------------------------------------------------------

def _random_inputs(seed, n):
    rng = np.random.default_rng(seed)
    panel, cars = simulate(rng, N=n, T=40, L=5, effect=0.5, windows=[(0, 0), (-2, 2)],
                           offsets=rng.integers(0, 30, n))
    return panel, cars


def _stat_frame(out):
    return out[["statistic", "p_value", "dof", "n"]].to_numpy(dtype=float)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(3, 12), shuffle=st.integers(0, 2 ** 31 - 1))
def test_shuffling_pairs_and_rows_changes_nothing(seed, n, shuffle):
    panel, cars = _random_inputs(seed, n)
    windows = [(0, 0), (-2, 2)]
    base = group_tests(panel, cars, windows, n_boot=200)
    rng = np.random.default_rng(shuffle)
    p2 = panel.iloc[rng.permutation(len(panel))].reset_index(drop=True)
    c2 = cars.iloc[rng.permutation(len(cars))].reset_index(drop=True)
    pd.testing.assert_frame_equal(group_tests(p2, c2, windows, n_boot=200), base)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(3, 12),
       c=st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False))
def test_scaling_returns_leaves_every_statistic_unchanged(seed, n, c):
    panel, cars = _random_inputs(seed, n)
    windows = [(0, 0), (-2, 2)]
    base = group_tests(panel, cars, windows, n_boot=200)
    p2, c2 = panel.copy(), cars.copy()
    p2["abnormal_return"] *= c
    p2["ar_var"] *= c * c
    p2["sigma2"] *= c * c
    c2["car"] *= c
    c2["car_var"] *= c * c
    scaled = group_tests(p2, c2, windows, n_boot=200)
    np.testing.assert_allclose(_stat_frame(scaled), _stat_frame(base), rtol=1e-9, atol=1e-12)
    caar = base.test.isin(["cross_sectional_t", "bw_cda", "skew_t", "bootstrap", "wilcoxon"])
    np.testing.assert_allclose(scaled.estimate[caar], c * base.estimate[caar], rtol=1e-9)


def test_bad_panels_raise_clear_errors(small):
    panel, cars, _ = small
    with pytest.raises(ValueError, match="duplicate"):
        group_tests(pd.concat([panel, panel.iloc[:1]]), cars, [W0])
    bad = panel.copy()
    bad.loc[0, "phase"] = "pre"
    with pytest.raises(ValueError, match="phase"):
        group_tests(bad, cars, [W0])
    with pytest.raises(ValueError, match="missing column"):
        group_tests(panel.drop(columns="ar_var"), cars, [W0])
