"""The group battery's numba kernels (eventstudy/_groupkernels.py) against the numpy path, and
withheld tests that are not computed.

The kernels: the group bootstrap (every window in one walk over each resample's draws), the
Kolari-Pynnonen date sums (z rows, per-pattern sums) and Brown-Warner's estimation AAR. The
numpy path is the reference: the same frames to 1e-12 (the kernels sum in another order), the
same bootstrap p-values (integer counts of the same resamples), the same bits for 1 and 2
threads."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from eventstudy import inference
from eventstudy.inference import ALL_GROUP_TESTS, GroupMatrix, WindowCars, group_tests_matrix

WINDOWS = [(-1, 1), (0, 0), (1, 1), (0, 2), (-2, 2)]


def _group(rng, n_ev=4, n_sec=6, T=60, gaps=0.03, missing=0.05, ties=False, compact=False):
    """Pairs of n_ev events x n_sec securities on one calendar (events a few days apart, so
    windows overlap in calendar time), with estimation gaps, missing event bars (daily
    windows lack pairs), optionally tied CARs; as from_arrays or the engine's compact form."""
    days = np.arange(-T - 3, 4)
    D = len(days)
    est = days < -3
    day0 = np.sort(rng.choice(np.arange(T + 10, T + 40), n_ev, replace=False))
    n_cal = int(day0.max()) + 10
    f = rng.standard_normal(n_cal) * 0.01
    e = 0.6 * f[:, None] + 0.01 * rng.standard_normal((n_cal, n_sec))
    pos = np.repeat(day0 + days[0], n_sec)                    # pair's row 0 on the calendar
    P = n_ev * n_sec
    ar = e[pos[None, :] + np.arange(D)[:, None], np.tile(np.arange(n_sec), n_ev)[None, :]]
    if ties:
        ar = np.round(ar, 3)
    ar[est[:, None] & (rng.random((D, P)) < gaps)] = np.nan
    is_est = np.broadcast_to(est[:, None], (D, P)).copy()
    is_evt = ~is_est & (rng.random((D, P)) >= missing)
    ar[~is_est & ~is_evt] = np.nan
    T_i = np.isfinite(np.where(is_est, ar, np.nan)).sum(0)
    s2 = np.nanvar(np.where(is_est, ar, np.nan), axis=0, ddof=1)
    var = np.where(is_est, s2, s2 * (1 + 1 / T_i))
    keys = pd.MultiIndex.from_product([[f"E{i:03d}" for i in range(n_ev)],
                                       [f"S{j:03d}" for j in range(n_sec)]],
                                      names=["event_id", "series"])
    cal = np.arange(n_cal, dtype=np.int64) + 19_000
    if compact:
        g = GroupMatrix.compact(keys, days, ar, is_est, is_evt, T_i - 1.0, var=var, cal=cal,
                                pos=pos.astype(np.int64))
    else:
        date = np.where(is_est | is_evt, cal[pos[None, :] + np.arange(D)[:, None]],
                        np.iinfo(np.int64).min)
        g = GroupMatrix.from_arrays(keys, days, ar, var, is_est, is_evt, date, T_i - 1.0)
    wins = []
    for a, b in WINDOWS:
        if a == b:
            wins.append(WindowCars.from_day(g, a))
            continue
        rows = (days >= a) & (days <= b)
        L = float(rows.sum())
        car = np.where(is_evt[rows], ar[rows], 0.0).sum(0)
        if ties:
            car = np.round(car, 2)
        wins.append(WindowCars(a, b, car, s2 * (L + L * L / T_i), T_i - 1.0, np.full(P, L)))
    return g, wins


def _battery(g, wins, monkeypatch, fast, **kw):
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on" if fast else "off")
    if fast:
        from eventstudy import _groupkernels as gk
        monkeypatch.setattr(gk, "AAR_MIN_CELLS", 0)            # the kernel at any size
    kw = {"min_n": {}, "oversized": (), "n_boot": 299, "seed": 3, **kw}
    import dataclasses
    return group_tests_matrix(dataclasses.replace(g, _shared=None), wins, **kw)


def _same_frames(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-12):
    assert list(a.columns) == list(b.columns)
    for c in ("window_start", "window_end", "test", "n", "note"):
        assert a[c].tolist() == b[c].tolist(), c
    for c in ("estimate", "statistic", "dof"):
        np.testing.assert_allclose(b[c], a[c], rtol=rtol, atol=0, equal_nan=True, err_msg=c)
    boot = (a.test == "bootstrap").to_numpy()
    np.testing.assert_array_equal(b.p_value[boot], a.p_value[boot])   # the same resamples
    np.testing.assert_allclose(b.p_value, a.p_value, rtol=1e-10, atol=1e-300, equal_nan=True)


# --------------------------------------------------------------------------------------------
# withheld tests
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("oversized", [None, ()])
@pytest.mark.parametrize("kp_exact_max", [2000, 5])
def test_withheld_rows_are_todays_rows_without_computing_the_statistic(monkeypatch, oversized,
                                                                       kp_exact_max):
    g, wins = _group(np.random.default_rng(1))
    kw = dict(n_boot=99, kp_exact_max=kp_exact_max, oversized=oversized)
    new = group_tests_matrix(g, wins, **kw)
    monkeypatch.setattr(inference, "_WITHHELD", {})          # every statistic computed
    old = group_tests_matrix(g, wins, **kw)
    pd.testing.assert_frame_equal(new, old)
    bw = new[new.test == "bw_cda"]
    assert bw.dof.notna().all() and (bw.n > 0).all()
    kp = new[new.test == "kp_patell"]
    if oversized is None:
        assert kp.statistic.isna().all() and bw.statistic.isna().all()
    else:
        assert kp.statistic.notna().all() and bw.statistic.notna().all()
    assert kp.note.str.contains("KP r-bar from date sums").all() == (kp_exact_max == 5)


def test_withheld_tests_skip_the_costly_parts(monkeypatch):
    g, wins = _group(np.random.default_rng(2))

    def boom(*a, **k):
        raise AssertionError("computed a withheld statistic")
    monkeypatch.setattr(inference, "_aar_sd", boom)
    monkeypatch.setattr(inference, "_date_sums_rbar", boom)
    monkeypatch.setattr(inference, "_mean_correlation", boom)
    out = group_tests_matrix(g, wins, n_boot=99, kp_exact_max=5,
                             tests=["bw_cda", "kp_patell", "patell"])
    assert out.statistic.isna().all() and out.estimate.notna().all()
    with pytest.raises(AssertionError, match="withheld"):
        group_tests_matrix(g, wins, n_boot=99, kp_exact_max=5, tests=["bw_cda"], oversized=())


def test_withheld_bw_cda_with_one_estimation_day_has_no_dof(monkeypatch):
    g, wins = _group(np.random.default_rng(4))
    g.ar[:-5] = np.nan                                 # estimation ARs gone but the last one
    g.ar[np.flatnonzero(g.is_est[:, 0])[-1]] = 0.01
    new = group_tests_matrix(g, wins, n_boot=99, tests=["bw_cda"])
    monkeypatch.setattr(inference, "_WITHHELD", {})
    old = group_tests_matrix(g, wins, n_boot=99, tests=["bw_cda"])
    pd.testing.assert_frame_equal(new, old)
    assert new.dof.isna().all()


# --------------------------------------------------------------------------------------------
# kernels against the numpy path
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("mode", ["overlap", "estimation"])
def test_battery_with_kernels_equals_the_numpy_path(monkeypatch, compact, ties, mode):
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(5), compact=compact, ties=ties)
    kw = dict(kp_exact_max=5, kp_correlation=mode)
    ref = _battery(g, wins, monkeypatch, False, **kw)
    new = _battery(g, wins, monkeypatch, True, **kw)
    _same_frames(ref, new)
    assert ref.p_value[ref.test == "bootstrap"].notna().all()
    assert ref.note[ref.test == "kp_bmp"].str.contains("date sums").all()


@pytest.mark.parametrize("n_pairs", [0, 1, 2, 3])
def test_kernels_on_tiny_groups(monkeypatch, n_pairs):
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(6), n_ev=1, n_sec=max(n_pairs, 1))
    if n_pairs == 0:
        g, wins = g.take([]), [w.take([]) for w in wins]
    ref = _battery(g, wins, monkeypatch, False, kp_exact_max=1)
    new = _battery(g, wins, monkeypatch, True, kp_exact_max=1)
    _same_frames(ref, new)
    assert (ref.n <= n_pairs).all()


def test_kernels_with_windows_lacking_pairs_and_all_nan_days(monkeypatch):
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(7), n_ev=3, n_sec=9, missing=0.3)
    g.ar[5] = np.nan                                           # an estimation day nobody has
    wins[1].car[:] = np.nan                                    # a window no pair has
    wins[2].car[:-1] = np.nan                                  # ... one pair has
    wins[3].car[::2] = np.nan                                  # ... half the pairs have
    ref = _battery(g, wins, monkeypatch, False, kp_exact_max=2)
    new = _battery(g, wins, monkeypatch, True, kp_exact_max=2)
    _same_frames(ref, new)
    boot = ref[ref.test == "bootstrap"]
    assert boot.p_value.notna().sum() >= 3                     # full and part windows


def test_bootstrap_p_values_identical_on_a_larger_group(monkeypatch):
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(8), n_ev=10, n_sec=40, missing=0.02, ties=True)
    ref = _battery(g, wins, monkeypatch, False, tests=["bootstrap"], n_boot=999)
    new = _battery(g, wins, monkeypatch, True, tests=["bootstrap"], n_boot=999)
    np.testing.assert_array_equal(new.p_value, ref.p_value)
    assert ref.p_value.notna().all()


def test_bootstrap_tie_rule_catches_resamples_of_one_value(monkeypatch):
    """Two tied classes of values: many resamples fall in one class; the kernel's rare
    class walk must drop exactly the resamples the numpy path drops."""
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(9), n_ev=1, n_sec=4)
    for w in wins:
        w.car[:] = np.where(np.isfinite(w.car), [0.1, 0.1, 0.1, 0.3][:len(w.car)], np.nan)
    ref = _battery(g, wins, monkeypatch, False, tests=["bootstrap"], n_boot=499)
    new = _battery(g, wins, monkeypatch, True, tests=["bootstrap"], n_boot=499)
    np.testing.assert_array_equal(new.p_value, ref.p_value)


def test_thread_count_gives_the_same_bits():
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    g, wins = _group(np.random.default_rng(10), n_ev=6, n_sec=30, compact=True)
    P = len(g.keys)
    sel = np.ones(P, bool)
    sel[::7] = False
    one = gk.aar_sums(g, sel, threads=1)
    two = gk.aar_sums(g, sel, threads=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    z1 = gk.date_sums_rows(g, 10, threads=1)
    old, gk._PAIRS_PER_CHUNK = gk._PAIRS_PER_CHUNK, 7            # many chunks
    try:
        z2 = gk.date_sums_rows(g, 10, threads=2)
    finally:
        gk._PAIRS_PER_CHUNK = old
    for name in ("key", "mean", "scale", "q", "first", "last"):
        np.testing.assert_array_equal(getattr(z1, name), getattr(z2, name))
    rng = np.random.default_rng(0)
    rows = np.flatnonzero(sel)
    pat = rng.integers(0, 5, len(rows))
    patterns = np.sort(rng.choice(np.arange(19_000, 19_030), (5, 3)), axis=1)
    v = rng.random(len(rows))
    d0, width = int(z1.first.min()), int(z1.last.max() - z1.first.min() + 1)
    t1 = gk.date_sums_total(z1, rows, pat, 5, v, d0, width, patterns, -1, threads=1)
    t2 = gk.date_sums_total(z1, rows, pat, 5, v, d0, width, patterns, -1, threads=2)
    assert t1 == t2 and t1 > 0
    y = rng.standard_normal((P, 3))
    member = rng.random((P, 3)) > 0.1
    y[~member] = 0.0
    cls = np.where(member, np.arange(P)[:, None], -1)
    sd, thr = np.ones(3), np.full(3, 1.0)
    a = gk.bootstrap_counts(np.random.default_rng(1), P, 301, 50, y, member, cls, sd, thr,
                            1e-10, threads=1)
    b = gk.bootstrap_counts(np.random.default_rng(1), P, 301, 50, y, member, cls, sd, thr,
                            1e-10, threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[1] > 200).all() and (a[0] > 0).all()


@pytest.mark.parametrize("compact", [False, True])
def test_date_sums_rows_kernel_equals_numpy(monkeypatch, compact):
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    g, _ = _group(np.random.default_rng(11), n_ev=5, n_sec=7, gaps=0.2, compact=compact)
    g.ar[:, 3] = np.nan                                          # a pair with no residuals
    g.ar[:, 4] = np.where(np.isfinite(g.ar[:, 4]), 0.02, np.nan)  # ... and one that is flat
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
    z0, q0 = inference._date_sums_rows(g, 30)
    zr = gk.date_sums_rows(g, 30)
    z1 = _z_csr(g, zr)                        # the kernel's z, had it been built
    np.testing.assert_array_equal(z1.indptr, z0.indptr)
    np.testing.assert_array_equal(z1.indices, z0.indices)
    assert z1.shape == z0.shape
    np.testing.assert_allclose(z1.data, z0.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(zr.q, q0, rtol=1e-12, atol=0)
    assert q0[3] == 0 and q0[4] == 0 and (q0 > 0).sum() == len(q0) - 2
    assert zr.first[3] > zr.last[3] and zr.scale[4] == 0


def test_unique_rows_equals_numpy_unique():
    rng = np.random.default_rng(12)
    a = rng.integers(-3, 3, (500, 4)).astype(np.int64)
    a[::5, 1] = np.iinfo(np.int64).min
    u0, i0 = np.unique(a, axis=0, return_inverse=True)
    u1, i1 = inference._unique_rows(a)
    np.testing.assert_array_equal(u1, u0)
    np.testing.assert_array_equal(i1, i0.ravel())
    for shape in ((0, 3), (4, 0)):
        u, i = inference._unique_rows(np.zeros(shape, np.int64))
        assert len(i) == shape[0]


def test_small_study_without_the_switch_does_not_load_numba_for_the_battery(monkeypatch):
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
    assert inference._kernels("_groupkernels") is None
    g, wins = _group(np.random.default_rng(13))
    out = group_tests_matrix(g, wins, n_boot=99)
    assert len(out) == len(WINDOWS) * len(ALL_GROUP_TESTS)


def test_pairwise_sum_is_numpys_row_sum():
    pytest.importorskip("numba")
    from eventstudy._groupkernels import _pairwise_sum
    rng = np.random.default_rng(14)
    for D in (0, 1, 7, 8, 9, 128, 129, 262, 1000, 5003):
        x = rng.standard_normal((5, D)) * 1e3 + 1e-3
        assert [_pairwise_sum(r, D) for r in x] == x.sum(axis=1).tolist()


@pytest.mark.parametrize("n", [2, 3, 7, 2500, 100_003, 3_000_000_019])
def test_numba_draws_are_numpys_integers(n):
    """The kernel's PCG64 + Lemire draws are numpy's `integers(0, n)` stream bit for bit,
    however the stream is cut into blocks (the bootstrap's p-values rest on it)."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    for seed in (0, 1, 12345):
        rng = np.random.default_rng(seed)
        cols = min(n, 1000)
        ref = np.concatenate([rng.integers(0, n, size=(r, cols)) for r in (3, 10, 1, 26)])
        st = gk.pcg_state(np.random.default_rng(seed))
        out = np.empty((40, cols), np.int64)
        for a, b in ((0, 7), (7, 8), (8, 40)):
            if n <= 1 << 32:
                gk.draw_block(st, n, out[a:b])
        if n <= 1 << 32:
            np.testing.assert_array_equal(out, ref)
    assert gk.pcg_state(np.random.Generator(np.random.MT19937(1))) is None


def test_a_numpy_whose_draws_differ_gets_numpys_own_draws(monkeypatch):
    """The kernel checks once that it reproduces this numpy's stream; where it would not (a
    numpy release that changed `integers`), the bootstrap draws with numpy, not another
    stream."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    gk._SAME_STREAM.clear()
    assert gk._same_stream()                   # this numpy: the kernel's draws are its own
    assert gk.pcg_state(np.random.default_rng(3)) is not None
    monkeypatch.setattr(gk, "_SAME_STREAM", [False])
    assert gk.pcg_state(np.random.default_rng(3)) is None
    def no_kernel_draws(*a):
        raise AssertionError("the kernel drew")
    monkeypatch.setattr(gk, "bootstrap_drawn", no_kernel_draws)
    monkeypatch.setattr(gk, "draw_block", no_kernel_draws)
    y = np.random.default_rng(4).standard_normal((50, 2))
    member = np.ones((50, 2), bool)
    cls = np.tile(np.arange(50)[:, None], (1, 2))
    h, k = gk.bootstrap_counts(np.random.default_rng(2), 50, 99, 40, y, member, cls,
                               np.ones(2), np.full(2, 1.0), 1e-10, threads=1)
    assert k.min() > 0 and (h <= k).all()


def test_bootstrap_counts_the_same_fused_blocked_and_with_numpys_draws():
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    rng = np.random.default_rng(15)
    P = 300
    y = rng.standard_normal((P, 4))
    member = rng.random((P, 4)) > 0.05
    y[~member] = 0.0
    cls = np.where(member, np.arange(P)[:, None], -1)
    args = (P, 257, 40, y, member, cls, np.ones(4), np.full(4, 1.5), 1e-10)
    fused = gk.bootstrap_counts(np.random.default_rng(2), *args, threads=1)
    blocked = gk.bootstrap_counts(np.random.default_rng(2), *args, threads=2)
    orig = gk.pcg_state
    try:
        gk.pcg_state = lambda rng: None                   # numpy's own draws
        slow = gk.bootstrap_counts(np.random.default_rng(2), *args, threads=1)
    finally:
        gk.pcg_state = orig
    for a, b in ((fused, blocked), (fused, slow)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("compact", [False, True])
def test_aar_kernel_equals_the_numpy_path(monkeypatch, compact):
    """A row summed pairwise, as numpy sums a C-ordered row (numpy's own order depends on the
    layout `_cols` hands it: pairwise for every pair, in pair order for a subset)."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    g, _ = _group(np.random.default_rng(16), n_ev=8, n_sec=40, gaps=0.1, compact=compact)
    g.ar[7] = np.nan                                          # a day nobody has
    for sel in (np.ones(len(g.keys), bool), np.random.default_rng(1).random(len(g.keys)) > 0.3,
                np.zeros(len(g.keys), bool)):
        s, cnt = gk.aar_sums(g, sel)
        m, n = inference._row_means(np.where(g.is_est[:, sel], g.ar[:, sel], np.nan))
        np.testing.assert_array_equal(cnt, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.testing.assert_allclose(np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan), m,
                                       rtol=1e-12, atol=1e-17)
        if sel.all():            # numpy sums this one pairwise too: the same bits
            np.testing.assert_array_equal(s, np.where(np.isfinite(g.ar) & g.is_est, g.ar,
                                                      0.0).sum(axis=1))
        monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
        ref = inference._aar_sd(g, sel)
        monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")
        monkeypatch.setattr(gk, "AAR_MIN_CELLS", 0)
        new = inference._aar_sd(g, sel)
        assert new[0] == ref[0]
        np.testing.assert_allclose(new[1], ref[1], rtol=1e-12)
        assert np.isnan(ref[1]) == (sel.sum() == 0)


def test_positive_fractions_kernel_equals_numpy(monkeypatch):
    pytest.importorskip("numba")
    g, _ = _group(np.random.default_rng(17), n_ev=5, n_sec=30, gaps=0.2)
    g.ar[:, 2] = np.nan                                       # a pair without estimation ARs
    g.ar[g.is_est[:, 3], 3] = 0.0                             # ... and one with only zeros
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "off")
    ref = inference._positive_fractions(g)
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on")
    new = inference._positive_fractions(g)
    np.testing.assert_array_equal(new[0], ref[0])
    np.testing.assert_array_equal(new[1], ref[1])
    assert not ref[1][2] and ref[0][3] == 0.0


def test_prefetching_changes_no_count(monkeypatch):
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    rng = np.random.default_rng(18)
    P = 200
    y = rng.standard_normal((P, 3))
    args = (P, 157, 30, y, np.ones((P, 3), bool), np.tile(np.arange(P)[:, None], (1, 3)),
            np.ones(3), np.full(3, 1.0), 1e-10)
    plain = [gk.bootstrap_counts(np.random.default_rng(4), *args, threads=t) for t in (1, 2)]
    monkeypatch.setattr(gk, "PREFETCH_MIN_BYTES", 0)
    fetched = [gk.bootstrap_counts(np.random.default_rng(4), *args, threads=t) for t in (1, 2)]
    for a, b in zip(plain + fetched, fetched + plain):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_battery_on_one_and_two_threads_gives_the_same_frame(monkeypatch):
    """Every kernel on threads (thresholds at 0) or not: the same frame, bit for bit."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    g, wins = _group(np.random.default_rng(19), n_ev=6, n_sec=20, compact=True)
    monkeypatch.setattr(gk, "BOOT_THREAD_MIN_DRAWS", 0)
    monkeypatch.setattr(gk, "THREAD_MIN_CELLS", 0)
    monkeypatch.setattr(gk, "_PAIRS_PER_CHUNK", 16)
    frames = []
    for threads in (1, 2):
        monkeypatch.setattr(gk, "_threads", lambda t=threads: t)
        frames.append(_battery(g, wins, monkeypatch, True, kp_exact_max=5))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    assert frames[0].statistic.notna().sum() > len(WINDOWS) * 10


# --------------------------------------------------------------------------------------------
# Kolari-Pynnonen date sums without z: the kernels recompute z's rows from the root's ARs
# --------------------------------------------------------------------------------------------

def _z_csr(g, zr):
    """The csr z (pair x day number - the first) that `main` built and the sums read, from
    the kernel's per-pair mean and scale: (ar - mean) * scale on the dated finite estimation
    rows, each pair's entries in row (date) order."""
    from scipy import sparse
    D, P = g.ar.shape
    date = g.date_rows(0, D)
    ok = (g.is_est & (date != inference._NO_DATE) & np.isfinite(g.ar)).T
    with np.errstate(invalid="ignore"):
        zt = ((g.ar - zr.mean) * zr.scale).T
    has = zr.first <= zr.last
    d0 = int(zr.first[has].min()) if has.any() else 0
    width = int(zr.last[has].max()) - d0 + 1 if has.any() else 0
    indptr = np.concatenate([[0], np.cumsum(ok.sum(axis=1))])
    return sparse.csr_matrix((zt[ok], date.T[ok] - d0, indptr), shape=(P, width))


def _kp_group(rng, compact, n_ev=6, n_sec=25):
    """A root group with gaps, a pair without residuals, a flat one, one with too few (scale
    0), an all-NaN estimation day and (dates per cell) pairs of one event on calendars of
    their own: a day shifted (runs of one calendar end there)."""
    g, wins = _group(rng, n_ev=n_ev, n_sec=n_sec, gaps=0.1, missing=0.1, compact=compact)
    g.ar[:, 2] = np.nan
    g.ar[:, 5] = np.where(np.isfinite(g.ar[:, 5]), 0.02, np.nan)
    g.ar[:-20, 8] = np.nan
    g.ar[10] = np.nan
    if not compact:
        for p in (11, 12, 40, 77):              # a security that trades on another calendar:
            g.date[20:40, p] += 1                # no bar on row 20's date, rows 20-39 a day
            g.date[40, p] = inference._NO_DATE   # later (row 40's date is row 39's)
            g.is_est[40, p] = False
            g.ar[40, p] = np.nan
    return g, wins


@pytest.mark.parametrize("compact", [False, True])
def test_kp_sums_without_z_are_the_csr_sums_bit_for_bit(compact):
    """Every cell of the per-pattern sums (overlap mode) and of the column sums (estimation
    mode) adds the same terms in the same order as the product with z's rows (scipy) and
    np.bincount over them (what `main` computed, with z): equal bits, for any selection of
    pairs, for 1 and 2 threads (pattern pieces and date ranges)."""
    pytest.importorskip("numba")
    from scipy import sparse
    from eventstudy import _groupkernels as gk
    rng = np.random.default_rng(21)
    g, _ = _kp_group(rng, compact)
    P = len(g.keys)
    zr = gk.date_sums_rows(g, 30)
    z = _z_csr(g, zr)
    assert (zr.scale == 0).sum() >= 3 and z.nnz > 0
    if not compact:
        assert len(np.unique(zr.key)) > 6                      # calendars: more than events
    zd0 = int(zr.first[zr.first <= zr.last].min())
    sels = [np.ones(P, bool), rng.random(P) < 0.4, np.zeros(P, bool), np.arange(P) == 7,
            np.isin(np.arange(P), [2, 5]), np.isin(np.arange(P), [3, 60]),
            np.isin(np.arange(P), [2, 8])]
    for sel in sels:
        rows = np.flatnonzero(sel)
        first, last = zr.first[rows], zr.last[rows]
        has = first <= last
        d0 = int(first[has].min()) if has.any() else 0
        width = int(last[has].max()) - d0 + 1 if has.any() else 0
        c0 = d0 - zd0
        sub = z[rows]
        ref = np.bincount(sub.indices - c0, weights=sub.data, minlength=width) \
            if has.any() else np.zeros(0)
        for threads in (1, 2):
            np.testing.assert_array_equal(gk.date_sums_cols(zr, rows, d0, width, threads), ref)
        n_pat = 4
        pat = np.sort(rng.integers(0, n_pat, len(rows)))        # sorted, as the caller gives
        v = rng.random(len(rows))
        member = sparse.csr_matrix((v, (pat, rows)), shape=(n_pat, P))
        G_ref = (member @ z).toarray()[:, c0:c0 + width] if has.any() else np.zeros((n_pat, 0))
        for threads in (1, 2):
            G = gk._pattern_sums(zr, rows, pat, n_pat, v, d0, width, threads)
            np.testing.assert_array_equal(G, G_ref)
        one = np.zeros(len(rows), np.int64)                     # one pattern: date ranges
        np.testing.assert_array_equal(gk._pattern_sums(zr, rows, one, 1, v, d0, width, 2),
                                      gk._pattern_sums(zr, rows, one, 1, v, d0, width, 1))


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("mode", ["overlap", "estimation"])
def test_kp_rows_of_sub_groups_from_the_roots_ars(monkeypatch, compact, mode):
    """Sub-groups (`take`) of a root read the root's ARs through its per-pair numbers: their
    KP rows are the numpy path's (z built), to the last-bit scale difference, and the root's
    numbers are made once; 0, 1 and 2 pairs included."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(22)
    g, wins = _kp_group(rng, compact)
    P = len(g.keys)
    kw = dict(tests=["kp_patell", "kp_bmp"], kp_exact_max=1, kp_correlation=mode)
    subsets = [np.arange(25, 50), np.flatnonzero(rng.random(P) < 0.3), np.arange(3),
               np.array([2, 3]), np.array([4]), np.array([], np.int64)]
    out = {}
    for fast in (False, True):
        root = dataclasses.replace(g, _shared=None)
        frames = []
        for cols in subsets:
            frames.append(_battery_on(root.take(cols), [w.take(cols) for w in wins],
                                      monkeypatch, fast, **kw))
        frames.append(_battery_on(root, wins, monkeypatch, fast, **kw))
        out[fast] = pd.concat(frames, ignore_index=True)
        made = [k for k in root._shared if k.startswith("kp-z")]
        assert made == ["kp-z-30"]
        assert isinstance(root._shared["kp-z-30"], tuple) != fast   # csr z only without numba
    _same_frames(out[False], out[True])
    kp = out[True]
    assert kp.note.str.contains("date sums").any() and kp.statistic.notna().sum() > 20


def _battery_on(g, wins, monkeypatch, fast, **kw):
    """`_battery` without a fresh copy: sub-groups share their root's per-pair work."""
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on" if fast else "off")
    kw = {"min_n": {}, "oversized": (), "n_boot": 99, "seed": 3, **kw}
    return group_tests_matrix(g, wins, **kw)


def test_kp_sums_thread_count_in_the_battery(monkeypatch):
    """The battery's KP rows with the kernels on 1 and 2 threads (many small pieces): the
    same bits."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    g, wins = _kp_group(np.random.default_rng(23), True, n_ev=8, n_sec=40)
    res = []
    for threads in (1, 2):
        monkeypatch.setattr(gk, "_threads", lambda t=threads: t)
        monkeypatch.setattr(gk, "THREAD_MIN_CELLS", 0)
        for mode in ("overlap", "estimation"):
            res.append(_battery(g, wins, monkeypatch, True, tests=["kp_patell", "kp_bmp"],
                                kp_exact_max=1, kp_correlation=mode))
    pd.testing.assert_frame_equal(res[0], res[2], check_exact=True)
    pd.testing.assert_frame_equal(res[1], res[3], check_exact=True)
    assert res[0].statistic.notna().all()


# --------------------------------------------------------------------------------------------
# the blocked bootstrap (a table bigger than the cache: batches of resamples bucketed by chunk
# of pairs), forced on small tables by lowering its thresholds
# --------------------------------------------------------------------------------------------

def _blocked(monkeypatch, batch=5, chunk_bytes=16 * 9 * 8, slack=6.0):
    """Every table blocked, `batch` resamples a batch, chunks of 16 pairs (the minimum)."""
    from eventstudy import _groupkernels as gk
    monkeypatch.setattr(gk, "BLOCK_MIN_PAIRS", 0)
    monkeypatch.setattr(gk, "BLOCK_BATCH", batch)
    monkeypatch.setattr(gk, "BLOCK_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(gk, "BUCKET_SLACK_SDS", slack)
    return gk


def _boot_table(rng, P, W, miss=0.1, n_values=None):
    """y (0 off a window), its membership and tie classes (-1 off a window) and sd as
    `inference._bootstrap_p` hands them to the kernel; |t| thresholds of 1 (many hits)."""
    x = rng.standard_normal((P, W)) if n_values is None else \
        rng.integers(0, n_values, (P, W)) * 0.25
    member = rng.random((P, W)) >= miss
    member[:3] = True                                   # every window has pairs
    cls = np.full((P, W), -1, np.int64)
    y = np.zeros((P, W))
    sd, thr = np.zeros(W), np.ones(W)
    for k in range(W):
        v = x[member[:, k], k]
        y[member[:, k], k] = v - v.mean()
        cls[member[:, k], k] = np.unique(v, return_inverse=True)[1].ravel()
        sd[k] = v.std(ddof=1)
    return y, member, cls, sd, thr


def _counts(gk, seed, P, n_boot, table, threads):
    y, member, cls, sd, thr = table
    return gk.bootstrap_counts(np.random.default_rng(seed), P, n_boot, 40, y, member, cls, sd,
                               thr, 1e-10, threads=threads)


@pytest.mark.parametrize("P,batch,slack", [(1003, 5, 6.0), (16, 7, 6.0), (517, 32, -3.0),
                                           (301, 1, 0.0)])
def test_blocked_bootstrap_counts_are_the_walks(monkeypatch, P, batch, slack):
    """The same resamples (the same stream, n_boot not a multiple of the batch, P not of the
    chunk), so the same hits and kept as the per-resample walk, on 1, 2 and 3 threads; with
    part windows (pairs off a window), and (slack < 0) buckets that overflow and are counted
    before the batch is drawn."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    table = _boot_table(np.random.default_rng(P), P, 4)
    walk = _counts(gk, 7, P, 203, table, 1)
    _blocked(monkeypatch, batch=batch, slack=slack)
    for threads in (1, 2, 3):
        got = _counts(gk, 7, P, 203, table, threads)
        np.testing.assert_array_equal(got[0], walk[0])
        np.testing.assert_array_equal(got[1], walk[1])
    assert (walk[1] > 150).all() and (walk[0] > 0).all() and (walk[0] < walk[1]).all()


def test_blocked_buckets_hold_each_resamples_draws_in_order(monkeypatch):
    """_fill's buckets: resample b's draws on chunk c, in draw order, are the stream's
    draws (numpy's integers) of that chunk; the state it leaves is the stream's after them."""
    pytest.importorskip("numba")
    gk = _blocked(monkeypatch)
    P, B, W, shift = 203, 6, 2, 4
    C = 1 << shift
    nch = -(-P // C)
    cap = np.full(nch, B * C + 40, np.uint64)
    end = np.cumsum(cap)
    start = end - cap
    s = gk._Batch(start, end, B, W, False)
    y = np.zeros((P, W))
    st = gk.pcg_state(np.random.default_rng(5))
    gk._fill(st, P, B, shift, np.empty(P, np.uint32), s.bucket, start, end, s.pos, s.lo, s.hi,
             s.snap, y, np.zeros(P + 1, np.int64), np.zeros(0, np.int64),
             np.zeros((C, B), np.uint32), s.s1, s.s2, s.kb)
    rng = np.random.default_rng(5)
    want = rng.integers(0, P, size=(B, P))
    for b in range(B):
        for c in range(nch):
            d = want[b][want[b] // C == c]
            np.testing.assert_array_equal(s.bucket[s.lo[b, c]:s.hi[b, c]], d - c * C)
        again = np.empty(P, np.int64)
        gk._draw(s.snap[b].copy(), P, again)          # a resample drawn again from its state
        np.testing.assert_array_equal(again, want[b])
    assert np.array_equal(st, gk.pcg_state(rng))


@pytest.mark.parametrize("n_values", [2, 3])
def test_blocked_tie_rule_and_degenerate_resamples(monkeypatch, n_values):
    """Few distinct values: many resamples (of a window's few pairs) fall in one tie class
    or have no spread; the blocked kernel drops exactly the resamples the walk drops."""
    pytest.importorskip("numba")
    from eventstudy import _groupkernels as gk
    P = 40
    table = _boot_table(np.random.default_rng(n_values), P, 5, miss=0.85, n_values=n_values)
    walk = _counts(gk, 3, P, 499, table, 1)
    y, member, cls, sd, thr = table
    distinct = np.where(member, np.arange(P)[:, None], -1)       # no ties: more kept
    loose = _counts(gk, 3, P, 499, (y, member, distinct, sd, thr), 1)
    assert (loose[1] >= walk[1]).all() and (loose[1] > walk[1]).any()
    _blocked(monkeypatch, batch=9)
    for threads in (1, 2):
        got = _counts(gk, 3, P, 499, table, threads)
        np.testing.assert_array_equal(got[0], walk[0])
        np.testing.assert_array_equal(got[1], walk[1])


@pytest.mark.parametrize("ties", [False, True])
def test_blocked_battery_equals_the_numpy_path(monkeypatch, ties):
    """The battery's bootstrap p-values with the blocked kernel (on 1 and 2 threads) are the
    numpy path's (counts @ y): full windows and windows lacking pairs, tied CARs."""
    pytest.importorskip("numba")
    g, wins = _group(np.random.default_rng(24), n_ev=5, n_sec=37, missing=0.1, ties=ties)
    wins[3].car[::3] = np.nan
    ref = _battery(g, wins, monkeypatch, False, tests=["bootstrap"], n_boot=401)
    gk = _blocked(monkeypatch, batch=6)
    monkeypatch.setattr(gk, "BOOT_THREAD_MIN_DRAWS", 0)
    for threads in (1, 2):
        monkeypatch.setattr(gk, "_threads", lambda t=threads: t)
        new = _battery(g, wins, monkeypatch, True, tests=["bootstrap"], n_boot=401)
        np.testing.assert_array_equal(new.p_value, ref.p_value)
    assert ref.p_value.notna().all()
