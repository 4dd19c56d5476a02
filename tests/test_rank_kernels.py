"""The rank tests' numba kernels (eventstudy._rankkernels) against the numpy path (the
reference, `EVENTSTUDY_FASTPATH=off`) and against pandas' ranks: ranks and counts exactly,
sums to 1e-12 (the kernels add a day's values in another order), on groups with NaNs, ties,
missing pairs and days, all-NaN days, 0, 1 and 2 pairs; the same bits on 1 and 2 threads."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")

from eventstudy import _rankkernels as rk  # noqa: E402
from eventstudy import inference  # noqa: E402
from eventstudy.inference import GroupMatrix, WindowCars  # noqa: E402

RANK_TESTS = ("corrado_rank", "cz_rank", "grank")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 pairs, so that a small group is cut into several (partial sums added)."""
    monkeypatch.setattr(rk, "CHUNK", 3)


def _arrays(seed, P, D=40, holes=0.1, rounded=False, tied_days=False):
    rng = np.random.default_rng(seed)
    days = np.arange(-D + 6, 6)
    est = np.broadcast_to((days <= -6)[:, None], (D, P)).copy()
    ar = rng.standard_normal((D, P)) * rng.uniform(0.5, 2.0, P)
    if rounded:
        ar = np.round(ar, 1)                            # many ties within a pair
    var = np.broadcast_to(rng.uniform(0.5, 2.0, P) ** 2, (D, P)).copy()
    miss = rng.random((D, P)) < holes
    if P:
        miss[:, 0] = False
        miss[3] = True                                  # an estimation day with no pair
        miss[-2] = True                                 # an event day with no pair
    if P > 2:
        miss[:, 2] = True                               # a pair with no AR at all
    if tied_days:                                       # days 5, 6 as 4: each pair's SARs tie
        ar[5] = ar[6] = ar[4]
        miss[5] = miss[6] = miss[4]
    ar[miss] = np.nan
    evt = ~est & ~miss
    est &= ~miss
    return days, ar, var, est, evt


def _keys(P):
    return pd.MultiIndex.from_arrays([[f"e{i:03d}" for i in range(P)], ["s"] * P],
                                     names=["event_id", "series"])


def _full(seed=0, P=17, **kw) -> GroupMatrix:
    days, ar, var, est, evt = _arrays(seed, P, **kw)
    keys = _keys(P)
    date = 19000 + np.arange(len(days))[:, None] + np.zeros(P, np.int64)
    return GroupMatrix.from_arrays(keys, days, ar, var, est, evt, date, np.full(P, 30.0))


def _compact(seed=0, P=17, **kw) -> GroupMatrix:
    """The engine's form: no full var, sigma^2 on estimation rows, a band of event rows."""
    days, ar, var, est, evt = _arrays(seed, P, **kw)
    keys = _keys(P)
    b0 = int(np.argmax(days > -6))
    band = np.where(evt[b0:], var[b0:] * 1.1, np.nan)
    return GroupMatrix.compact(keys, days, ar, est, evt, np.full(P, 30.0), var_est=var[0],
                               var_band=band, band=(b0, len(days)),
                               cal=19000 + np.arange(3 * len(days)), pos=np.zeros(P, np.int64))


def _windows(g: GroupMatrix) -> list[WindowCars]:
    P = len(g.keys)
    wins = [WindowCars.from_day(g, d) for d in (0, 1, 4)]   # lack the pairs missing that day
    rows = (g.days >= 0) & (g.days <= 2)                     # (day 4: no pair at all)
    car = g.ar[rows].sum(axis=0)                             # NaN for a pair missing a day
    wins.append(WindowCars(0, 2, car, np.full(P, 3.3), np.full(P, 30.0), np.full(P, 3.0)))
    for k, (a, b) in zip((1, 2), ((1, 2), (2, 3))):        # one pair, two pairs
        keep = np.arange(P) < k
        wins.append(WindowCars(a, b, np.where(keep, car, np.nan), np.full(P, 3.3),
                               np.full(P, 30.0), np.full(P, 2.0)))
    wins.append(WindowCars(3, 3, np.full(P, 0.25), np.full(P, 1.0), np.full(P, 30.0),
                           np.ones(P)))                     # equal SCARs: sd 0, no GRANK
    return wins


def _on(monkeypatch, fast: bool):
    monkeypatch.setenv("EVENTSTUDY_FASTPATH", "on" if fast else "off")
    assert (inference._kernels("_rankkernels") is not None) == fast


def _same(a, b, rtol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


# --- ranks --------------------------------------------------------------------------------

@pytest.mark.parametrize("P", [0, 1, 2, 9])
def test_column_ranks_equal_pandas_and_numpy(P, small_chunks):
    x = _tied_x(P, seed=P)          # ties, NaNs, a column of NaN, one all tied, infinities
    ranks, m = rk.column_ranks(x)
    assert ranks.dtype == np.float32 and ranks.shape == x.shape
    expect = pd.DataFrame(np.where(np.isfinite(x), x, np.nan)).rank(method="average")
    np.testing.assert_array_equal(ranks, expect.to_numpy())
    np.testing.assert_array_equal(ranks, inference._column_ranks(x))
    np.testing.assert_array_equal(m, np.isfinite(x).sum(axis=0))


def test_root_ranks_kernel_is_numpy(monkeypatch, small_chunks):
    g = _full(rounded=True)
    _on(monkeypatch, False)
    r_np, m_np = inference._root_ranks(g)
    _on(monkeypatch, True)
    r_k, m_k = inference._root_ranks(g)
    assert r_k.dtype == np.uint16 and r_np.dtype == np.float32  # twice the ranks: see below
    np.testing.assert_array_equal(inference._rank_values(r_k), r_np)
    np.testing.assert_array_equal(m_k, m_np)
    assert r_k.T.flags.c_contiguous                          # pair-major, as the numpy path's


@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("est_only", [False, True])
def test_day_sd_is_numpy(make, est_only, small_chunks):
    g = make(seed=3)
    D, P = g.ar.shape
    every = np.ones(P, bool)
    sar = inference._sar(g, every, 0, D, g.is_est if est_only else None)
    expect = inference._day_sd(sar)
    got = rk.day_sd(rk._source(g, est_only), D, P)
    _same(got, expect)
    assert np.isnan(got[3])                                  # the day with no pair


@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("P", [1, 2, 17])
def test_cz_ranks_are_numpy(make, P, monkeypatch, small_chunks):
    g = make(seed=P, P=P)
    _on(monkeypatch, False)
    r_np, m_np = inference._cz_group_ranks(g)
    _on(monkeypatch, True)
    r_k, m_k = inference._cz_group_ranks(g)
    assert r_k.dtype == np.uint16                            # twice the ranks
    np.testing.assert_array_equal(inference._rank_values(r_k), r_np)   # exact: halves
    np.testing.assert_array_equal(m_k, m_np)
    if P == 1:                                               # no day has 2 pairs: no sd
        assert (m_k == 0).all()


def _kernel_sars(g: GroupMatrix) -> np.ndarray:
    """The kernels' re-standardized estimation SARs, (P, T) on the days some pair has one
    (NaN: none), each pair's sorted: what main's kernel base kept (`srt`) and searched."""
    D, P = g.ar.shape
    src = rk._source(g, True)
    sd = rk.day_sd(src, D, P)
    days = np.flatnonzero(rk.sar_days_kept(*src, sd)).astype(np.int64)
    out, key = np.empty((P, len(days))), np.empty((P, len(days)))
    rk.sar_rows(*src, sd, days, 0, P, out, key)
    return np.sort(out, axis=1)


def _positions(srt: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lt, le (W, P): searchsorted of vs[w, p] in pair p's sorted finite SARs (srt (P, T),
    NaN last): main's kernel searched them so, a window at a time."""
    lt, le = np.zeros(vs.shape, np.int64), np.zeros(vs.shape, np.int64)
    for p, row in enumerate(srt):
        row = row[np.isfinite(row)]
        lt[:, p] = np.searchsorted(row, vs[:, p], side="left")
        le[:, p] = np.searchsorted(row, vs[:, p], side="right")
    return lt, le


@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("P", [1, 2, 17])
def test_grank_base_is_numpy(make, P, monkeypatch, small_chunks):
    g = make(seed=10 + P, P=P)
    wins = _windows(g)
    _on(monkeypatch, False)
    b_np = inference._grank_base(g, wins)
    _on(monkeypatch, True)
    b_k = inference._grank_base(g, wins)
    assert b_k.sar is None                       # no SARs, sorted or not: where v falls
    assert b_k.ranks.dtype == np.uint16                      # twice the ranks
    np.testing.assert_array_equal(inference._rank_values(b_k.ranks), b_np.ranks)
    np.testing.assert_array_equal(b_k.m, b_np.m)
    np.testing.assert_array_equal(b_k.inv, b_np.inv)
    assert b_k.ranks.T.flags.c_contiguous
    have = [w for w in wins if inference._grank_v(w)[2] is not None]
    assert [id(w) for w in b_k.windows] == [id(w) for w in have]
    early = [wins[2], wins[4], wins[6]]                        # no pair, one pair, sd 0
    assert not any(w is x for w in early for x in have)
    assert len(have) >= (0 if P == 1 else 1 if P == 2 else 4)
    assert b_k.lt.dtype == np.int32 and b_k.lt.shape == b_k.le.shape == (len(have), P)
    _, vs = inference._grank_vs(wins, P)
    lt, le = _positions(np.sort(b_np.sar, axis=0).T, vs)      # random v: no near-ties
    for k, w in enumerate(have):
        sel = inference._grank_v(w)[0]
        np.testing.assert_array_equal(b_k.lt[k][sel], lt[k][sel])
        np.testing.assert_array_equal(b_k.le[k][sel], le[k][sel])


@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("P", [0, 1, 2, 17])
def test_grank_positions_are_mains(make, P, small_chunks):
    """Where each v falls among a pair's SARs, found while the base sorts them, is what main's
    kernel found by searchsorted in its kept sorted SARs: the same ints, so the window kernel
    (the same sums in the same order) gives main's bits. v tied to a SAR on purpose (a pair
    with tied SARs too), infinities, and NaN (a pair the window lacks)."""
    g = make(seed=70 + P, P=P, tied_days=True)
    srt = _kernel_sars(g)
    rng = np.random.default_rng(P)
    vs = rng.standard_normal((5, P))
    for p in range(P):
        fin = srt[p][np.isfinite(srt[p])]
        if len(fin):
            vs[0, p] = fin[rng.integers(len(fin))]            # a tie with one of its SARs
            vs[1, p] = fin[0]                                  # with its lowest
    vs[2] = np.inf
    vs[3] = -np.inf
    vs[4, ::3] = np.nan
    if P >= 2:                                               # (1 pair: no day sd, no SAR)
        vals, counts = np.unique(srt[0][np.isfinite(srt[0])], return_counts=True)
        assert counts.max() == 3                             # days 4, 5, 6
        vs[0, 0] = vals[counts.argmax()]                     # v ties with the three
    ranks, m, lt, le = rk.grank_base(g, vs)
    want_lt, want_le = _positions(srt, vs)
    np.testing.assert_array_equal(lt, want_lt)
    np.testing.assert_array_equal(le, want_le)
    np.testing.assert_array_equal(m, np.isfinite(srt).sum(axis=1))
    assert (le[0] > lt[0])[m > 0].all()                      # tied, as meant
    if P >= 2:
        assert le[0, 0] - lt[0, 0] == 3
    _, m2, lt2, le2 = rk.grank_base(g, vs, rank=False)      # the positions alone
    np.testing.assert_array_equal(lt2, lt)
    np.testing.assert_array_equal(le2, le)
    np.testing.assert_array_equal(m2, m)


# --- daily sums ---------------------------------------------------------------------------

@pytest.mark.parametrize("pick", ["all", "some", "two", "one", "none", "unranked"])
def test_corrado_base_is_numpy(pick, monkeypatch, small_chunks):
    g = _full(seed=7)
    ranks, m = inference._root_ranks(g)                      # the same ranks for both paths
    P = len(g.keys)
    cols = {"all": np.arange(P), "some": np.array([0, 3, 4, 8, 11, 16]),
            "two": np.array([1, 5]), "one": np.array([6]), "none": np.zeros(0, np.int64),
            "unranked": np.array([2])}[pick]
    _on(monkeypatch, False)
    b_np = inference._corrado_base(ranks, m, cols)
    _on(monkeypatch, True)
    b_k = inference._corrado_base(ranks, m, cols)
    _same(b_k.kbar, b_np.kbar)
    np.testing.assert_array_equal(b_k.n_t, b_np.n_t)
    np.testing.assert_array_equal(b_k.used, b_np.used)
    assert b_k.T == b_np.T
    _same(b_k.s2, b_np.s2)


@pytest.mark.parametrize("pick", ["all", "some", "two", "one"])
def test_grank_window_is_numpy(pick, monkeypatch, small_chunks):
    """The window kernel reads only the ranks and where v falls among each pair's sorted
    SARs; given the numpy path's SARs (sorted), it matches the numpy path's day sums."""
    g = _full(seed=8, rounded=True)
    _on(monkeypatch, False)
    b = inference._grank_base(g)
    srt = np.sort(b.sar, axis=0).T
    P = len(g.keys)
    sel = np.ones(P, bool)
    if pick != "all":
        sel[:] = False
        sel[{"some": [0, 2, 3, 7, 12], "two": [4, 9], "one": [5]}[pick]] = True
    rng = np.random.default_rng(1)
    v = rng.standard_normal(int(sel.sum()))
    own = np.flatnonzero(sel)
    for i, p in enumerate(own[:2]):                          # ties with an estimation SAR
        x = b.sar[:, p]
        if np.isfinite(x).any():
            v[i] = x[np.flatnonzero(np.isfinite(x))[1]]
    vs = np.full((1, P), np.nan)
    vs[0, sel] = v
    lt, le = _positions(srt, vs)
    n_t, rank_sum, moved, up = rk.grank_days(lt[0], le[0], b.m, b.ranks, b.inv, own)
    n_np, sum_np = inference._grank_days(b, sel)
    moved_np, up_np = inference._grank_moved(b, sel, v)
    np.testing.assert_array_equal(n_t, n_np)
    _same(rank_sum, sum_np)
    _same(moved, moved_np)
    np.testing.assert_array_equal(up, up_np[sel])           # halves: exact
    assert (up % 0.5 == 0).all()
    if pick == "some":
        assert (up % 1 == 0.5).any()                         # a tie was counted as half


# --- the group rows -----------------------------------------------------------------------

@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("P", [2, 3, 17, 40])
def test_group_rows_fast_equal_numpy(make, P, monkeypatch, small_chunks):
    g = make(seed=20 + P, P=P, rounded=P == 40)
    wins = _windows(g)
    out = {}
    for fast in (False, True):
        _on(monkeypatch, fast)
        out[fast] = inference.group_tests_matrix(g, wins, tests=RANK_TESTS, min_n={},
                                                 oversized=())
    a, b = out[False], out[True]
    pd.testing.assert_frame_equal(a.drop(columns=["estimate", "statistic", "p_value"]),
                                  b.drop(columns=["estimate", "statistic", "p_value"]))
    for c in ("estimate", "statistic", "p_value"):
        _same(b[c], a[c])
    assert a["statistic"].notna().any()
    assert (a["n"] < P).any()                               # some window lacks pairs


def _pooled_and_events(root, wins, per_event: int, events: int = 3) -> pd.DataFrame:
    """The rank tests' rows of the pooled group `root` and of its `events` per-event
    sub-groups (consecutive runs of `per_event` pairs, their ranks sliced from the root's)."""
    frames = [inference.group_tests_matrix(root, wins, tests=RANK_TESTS, min_n={},
                                           oversized=())]
    for e in range(events):
        cols = np.arange(e * per_event, (e + 1) * per_event)
        frames.append(inference.group_tests_matrix(root.take(cols), [w.take(cols) for w in wins],
                                                   tests=RANK_TESTS, min_n={}, oversized=()))
    return pd.concat(frames, ignore_index=True)


def test_sub_groups_and_missing_bars_fast_equal_numpy(monkeypatch):
    """The bench's synthetic group with missing bars: the pooled group and its per-event
    sub-groups (their Corrado ranks sliced from the root's)."""
    from benchmarks.bench_inference import synthetic_group, with_missing_bars
    g, wins = with_missing_bars(*synthetic_group(40, 3, gaps=0.02), 0.01)
    out = {}
    for fast in (False, True):
        _on(monkeypatch, fast)
        root = g if fast else GroupMatrix.from_arrays(g.keys, g.days, g.ar, g.var, g.is_est,
                                                     g.is_evt, g.date, g.dof)
        out[fast] = _pooled_and_events(root, wins, 40)
    a, b = out[False], out[True]
    np.testing.assert_array_equal(a["n"], b["n"])
    for c in ("estimate", "statistic", "p_value", "dof"):
        _same(b[c], a[c])
    assert (a["n"] < 120).any() and a["statistic"].notna().all()


def test_thread_count_gives_the_same_bits(monkeypatch, small_chunks):
    g = _compact(seed=31, P=40)
    wins = _windows(g)
    _on(monkeypatch, True)
    out = []
    for threads in ("1", "2"):
        monkeypatch.setenv("EVENTSTUDY_THREADS", threads)
        h = GroupMatrix.compact(g.keys, g.days, g.ar, g.is_est, g.is_evt, g.dof,
                                var_est=g.var_est, var_band=g.var_band, band=g.band,
                                cal=g.cal, pos=g.pos)            # nothing cached
        out.append(inference.group_tests_matrix(h, wins, tests=RANK_TESTS, min_n={},
                                                oversized=()))
    pd.testing.assert_frame_equal(out[0], out[1], check_exact=True)


def test_no_pairs(monkeypatch):
    g = _full(P=0)
    _on(monkeypatch, True)
    ranks, m = rk.column_ranks(g.ar)
    assert ranks.shape == g.ar.shape and m.shape == (0,)
    kbar, n = rk.day_means(ranks, m, np.zeros(0, np.int64))
    assert np.isnan(kbar).all() and (n == 0).all() and len(n) == len(g.days)
    res = inference.group_tests_matrix(g, _windows(g), tests=RANK_TESTS)
    assert (res["n"] == 0).all() and res["statistic"].isna().all()


@pytest.mark.parametrize("est_only", [False, True])
def test_pair_major_inputs_give_the_same_bits(est_only, small_chunks):
    """A sub-group taken from the root holds its arrays pair-major (numpy's fancy indexing):
    the kernels walk them a pair at a time, adding each day's values in the same pair order."""
    g = _compact(seed=41, P=23)
    f = g.take(np.arange(23))                       # the same pairs, pair-major arrays
    assert f.ar.flags.f_contiguous and not f.ar.flags.c_contiguous
    D, P = g.ar.shape
    sd_c = rk.day_sd(rk._source(g, est_only), D, P)
    sd_f = rk.day_sd(rk._source(f, est_only), D, P)
    np.testing.assert_array_equal(sd_c, sd_f)
    days = np.arange(D, dtype=np.int64)
    out_c, out_f, key = np.empty((P, D)), np.empty((P, D)), np.empty((P, D))
    rk.sar_rows(*rk._source(g, est_only), sd_c, days, 0, P, out_c, key)
    rk.sar_rows(*rk._source(f, est_only), sd_c, days, 0, P, out_f, key)
    np.testing.assert_array_equal(out_c, out_f)
    key_c, key_f = np.empty((P, D)), np.empty((P, D))
    rk.ar_rows(g.ar, 0, P, key_c)
    rk.ar_rows(f.ar, 0, P, key_f)
    np.testing.assert_array_equal(key_c, key_f)
    assert np.isinf(key_c).any() and not np.isnan(key_c).any()


def test_grank_window_ties_by_hand():
    """A pair whose SARs 2, 2, 2 tie with v = 2: each moves half a rank; 3 moves a whole one."""
    sar = np.array([[1.0, 7.0], [2.0, np.nan], [2.0, 5.0], [2.0, 6.0], [3.0, 4.0],
                    [np.nan, 8.0]])                          # (T, N): 6 days, 2 pairs
    ranks = np.asarray(pd.DataFrame(sar).rank().to_numpy(), np.float32)
    m = np.isfinite(sar).sum(axis=0)
    b = inference._GrankBase(sar, ranks, m, 1.0 / (m + 2.0))
    v = np.array([2.0, 5.5])
    lt, le = _positions(np.sort(sar, axis=0).T, v[None])
    np.testing.assert_array_equal(lt, [[1, 2]])
    np.testing.assert_array_equal(le, [[4, 2]])
    n_t, rank_sum, moved, up = rk.grank_days(lt[0], le[0], m, ranks, b.inv, np.arange(2))
    np.testing.assert_array_equal(up, [1 + 0.5 * 3, 3])    # pair 0: 3 above, ties; pair 1
    np.testing.assert_array_equal(n_t, [2, 1, 2, 2, 2, 1])
    inv0, inv1 = b.inv
    np.testing.assert_allclose(moved, [inv1, 0.5 * inv0, 0.5 * inv0, 0.5 * inv0 + inv1,
                                       inv0, inv1], rtol=1e-15)
    sel = np.ones(2, bool)
    moved_np, up_np = inference._grank_moved(b, sel, v)
    np.testing.assert_array_equal(up, up_np)
    np.testing.assert_allclose(moved, moved_np, rtol=1e-15)
    n_np, sum_np = inference._grank_days(b, sel)
    np.testing.assert_array_equal(n_t, n_np)
    np.testing.assert_allclose(rank_sum, sum_np, rtol=1e-15)


def test_big_sets_lacking_few_pairs_subtract_from_the_group_sums(monkeypatch, small_chunks):
    """A window's set lacking a few of the group's pairs takes the group's daily rank sums
    less the lacking pairs' ones (the kernels, from _SUBTRACT_MIN pairs): the same rows."""
    g = _compact(seed=51, P=60, holes=0.03)
    wins = _windows(g)
    monkeypatch.setattr(inference, "_SUBTRACT_MIN", 10)
    calls = []
    sums = inference._Everyone.sums
    monkeypatch.setattr(inference._Everyone, "sums",
                        lambda self, k: calls.append(self.name) or sums(self, k))
    out = {}
    for fast in (False, True):
        _on(monkeypatch, fast)
        out[fast] = inference.group_tests_matrix(g, wins, tests=RANK_TESTS, min_n={},
                                                 oversized=())
    assert {"corrado-all", "cz-all"} <= set(calls)
    a, b = out[False], out[True]
    np.testing.assert_array_equal(a["n"], b["n"])
    for c in ("estimate", "statistic", "p_value"):
        _same(b[c], a[c])


@pytest.mark.parametrize("make", [_full, _compact])
def test_small_groups_raw_sars_give_the_same_bits(make, monkeypatch, small_chunks):
    """A small group computes its SARs once (`_raw`) for the sd's two passes and the rows to
    rank; a big one recomputes them from the arrays each pass: the same bits."""
    g = make(seed=61, P=30, rounded=True)
    h = g.take(np.arange(30))                       # and pair-major
    vs = np.random.default_rng(2).standard_normal((3, 30))
    vs[0] = np.round(vs[0], 1)
    out = {}
    for raw_max in (0, 1 << 30):
        monkeypatch.setattr(rk, "RAW_MAX", raw_max)
        for name, grp in (("c", g), ("f", h)):
            assert (rk._raw(rk._source(grp, False), *grp.ar.shape) is None) == (raw_max == 0)
            out[raw_max, name] = (rk.cz_ranks(grp), rk.grank_base(grp, vs))
    ref = out[0, "c"]
    for key, (cz, gr) in out.items():
        np.testing.assert_array_equal(cz[0], ref[0][0])
        np.testing.assert_array_equal(cz[1], ref[0][1])
        for a, b in zip(gr, ref[1]):                        # ranks, m, lt, le
            np.testing.assert_array_equal(a, b)


def test_grank_rows_are_mains_bitwise(monkeypatch, small_chunks):
    """GRANK's rows with the positions found while the base sorts each pair's SARs are bit
    for bit the rows with main's positions (searchsorted in the kept sorted SARs), a v tied
    with three of a pair's SARs planted in every window."""
    g = _compact(seed=81, P=40, tied_days=True)
    wins = _windows(g)
    _on(monkeypatch, True)
    srt = _kernel_sars(g)
    vals, counts = np.unique(srt[0][np.isfinite(srt[0])], return_counts=True)
    tied = vals[counts.argmax()]
    grank_v = inference._grank_v

    def planted(w):                                  # pair 0's v tied with its SARs
        sel, n, v = grank_v(w)
        if v is not None and sel[0]:
            v = v.copy()
            v[0] = tied
        return sel, n, v

    monkeypatch.setattr(inference, "_grank_v", planted)
    grank_base = inference._grank_base
    seen = []

    def mains(g, windows=()):
        b = grank_base(g, windows)
        seen.append(b)
        _, vs = inference._grank_vs(windows, len(g.keys))
        lt, le = _positions(srt, vs)
        assert (b.le[:, 0] - b.lt[:, 0] == 3).any()          # the tie reached the base
        return dataclasses.replace(b, lt=lt.astype(np.int32), le=le.astype(np.int32))

    out = {}
    for name, base in (("new", grank_base), ("main", mains)):
        monkeypatch.setattr(inference, "_grank_base", base)
        h = GroupMatrix.compact(g.keys, g.days, g.ar, g.is_est, g.is_evt, g.dof,
                                var_est=g.var_est, var_band=g.var_band, band=g.band,
                                cal=g.cal, pos=g.pos)            # nothing cached
        out[name] = inference.group_tests_matrix(h, wins, tests=("grank",), min_n={},
                                                 oversized=())
    assert seen and out["new"]["statistic"].notna().sum() >= 3
    pd.testing.assert_frame_equal(out["new"], out["main"], check_exact=True)


def test_grank_window_not_in_the_context(monkeypatch, small_chunks):
    """A window the context does not list (its positions not found with the base's) gets
    them from another sort of the SARs: the same bits."""
    g = _full(seed=91, P=30, rounded=True)
    wins = _windows(g)
    _on(monkeypatch, True)
    listed = inference._Context(g, 10, 0, "overlap", 5, windows=wins)
    bare = inference._Context(g, 10, 0, "overlap", 5, windows=wins[:1])
    for w in wins:
        a, b = inference._test_grank(listed, w), inference._test_grank(bare, w)
        np.testing.assert_array_equal(np.array(a, float), np.array(b, float))
    assert len(bare.cached("grank-group", inference._NO_SEL, None).windows) <= 1


# --- the Corrado root ranks as uint16 twice the rank --------------------------------------
# (`_root_ranks` with the kernels: average ranks are halves, so 2 x rank is an integer <= 2 D;
# 0 is "not ranked"; read back as 0.5 * h in float64, exactly the float32 rank promoted)

def _tied_x(P, D=30, seed=0):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal((D, P)), 1)             # ties
    x[rng.random(x.shape) < 0.15] = np.nan
    if P > 2:
        x[:, 1] = np.nan                                     # nothing to rank
        x[:, 2] = 0.5                                        # all tied
        x[4, 3], x[5, 3], x[6, 3] = np.inf, -np.inf, -0.0    # infinities are missing
        x[7, 3] = 0.0                                        # -0.0 ties 0.0
    return x


@pytest.mark.parametrize("P", [0, 1, 2, 9, 40])
def test_twice_ranks_are_twice_the_float32_and_pandas_ranks(P, small_chunks):
    x = _tied_x(P, seed=P)
    h, m_h = rk.column_ranks(x, twice=True)
    r, m_r = rk.column_ranks(x)
    assert h.dtype == np.uint16 and h.shape == x.shape and h.T.flags.c_contiguous
    assert r.dtype == np.float32
    fin = np.isfinite(x)
    np.testing.assert_array_equal(h == 0, ~fin)              # 0: not ranked
    np.testing.assert_array_equal(np.where(fin, h, np.nan), 2.0 * r)
    expect = pd.DataFrame(np.where(fin, x, np.nan)).rank(method="average").to_numpy()
    np.testing.assert_array_equal(np.where(fin, h / 2.0, np.nan), expect)
    np.testing.assert_array_equal(inference._rank_values(h), r)    # float64 == float32
    assert inference._rank_values(h).dtype == np.float64
    np.testing.assert_array_equal(m_h, m_r)
    np.testing.assert_array_equal(m_h, fin.sum(axis=0))
    if P > 2:
        assert (h[:, 2][fin[:, 2]] == fin[:, 2].sum() + 1).all()  # all tied: (1 + k) / 2


@pytest.mark.parametrize("pick", ["all", "some", "two", "one", "none", "unranked"])
def test_day_sums_from_twice_ranks_are_float32s_bitwise(pick, monkeypatch, small_chunks):
    """The kernels' daily sums (`day_sums`, `day_means`, the group's sums less the lacking
    pairs') and the numpy path's from the uint16 ranks are the float32 ranks' own bits."""
    x = _tied_x(40, seed=5)
    h, m = rk.column_ranks(x, twice=True)
    r, _ = rk.column_ranks(x)
    P = x.shape[1]
    cols = {"all": np.arange(P), "some": np.array([0, 3, 4, 8, 11, 16, 39]),
            "two": np.array([1, 5]), "one": np.array([6]), "none": np.zeros(0, np.int64),
            "unranked": np.array([1])}[pick]
    for a, b in zip(rk.day_sums(h, m, cols), rk.day_sums(r, m, cols)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for a, b in zip(rk.day_means(h, m, cols), rk.day_means(r, m, cols)):
        np.testing.assert_array_equal(a, b)
    if pick == "all":
        assert rk.day_sums(h, m, cols)[1].sum() == np.isfinite(x).sum()
    for fast in (True, False):
        _on(monkeypatch, fast)
        a, b = inference._corrado_base(h, m, cols), inference._corrado_base(r, m, cols)
        for f in ("kbar", "n_t", "used"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert a.T == b.T and (a.s2 == b.s2 or (np.isnan(a.s2) and np.isnan(b.s2)))


def test_twice_ranks_fall_back_to_float32_when_days_are_too_many(monkeypatch, small_chunks):
    x = _tied_x(9, D=30)
    D = x.shape[0]
    r, _ = rk.column_ranks(x)
    monkeypatch.setattr(rk, "TWICE_MAX", 2 * D + 2)          # just fits
    h, _ = rk.column_ranks(x, twice=True)
    assert h.dtype == np.uint16
    np.testing.assert_array_equal(inference._rank_values(h), r)
    monkeypatch.setattr(rk, "TWICE_MAX", 2 * D + 1)          # too many days: float32
    f, _ = rk.column_ranks(x, twice=True)
    assert f.dtype == np.float32 and f.T.flags.c_contiguous
    np.testing.assert_array_equal(f, r)
    with pytest.raises(ValueError):
        rk._ranked(1, D, lambda c0, c1: np.zeros((c1 - c0, D)), twice=True)


def test_twice_ranks_at_the_uint16_limit():
    """The most days uint16 holds (2 D + 2 <= 65535): a pair's top rank is 2 D = 65532."""
    D = (rk.TWICE_MAX - 2) // 2
    assert rk.twice_fits(D) and not rk.twice_fits(D + 1)
    rng = np.random.default_rng(3)
    x = np.stack([rng.permutation(D).astype(float), np.round(rng.standard_normal(D), 1)],
                 axis=1)
    x[::7, 1] = np.nan
    h, m = rk.column_ranks(x, twice=True)
    r, _ = rk.column_ranks(x)
    assert h.dtype == np.uint16 and h[:, 0].max() == 2 * D
    np.testing.assert_array_equal(inference._rank_values(h), r)
    for a, b in zip(rk.day_sums(h, m, np.arange(2)), rk.day_sums(r, m, np.arange(2))):
        np.testing.assert_array_equal(a, b)
    assert rk.column_ranks(np.zeros((D + 1, 1)), twice=True)[0].dtype == np.float32


@pytest.mark.parametrize("make", [_full, _compact])
def test_rank_rows_from_twice_ranks_are_float32s_bitwise(make, monkeypatch, small_chunks):
    """The rank tests' rows (the pooled group and sub-groups, their Corrado ranks sliced from
    the root's, sets lacking few pairs taking the group's sums less theirs) are bit for bit
    the same from the uint16 ranks (Corrado's, CZ's, GRANK's) as from the float32 ones
    (forced by TWICE_MAX), and close to the numpy path's."""
    monkeypatch.setattr(inference, "_SUBTRACT_MIN", 10)
    out = {}
    for name, fast, twice_max in (("u16", True, 65535), ("f32", True, 0),
                                  ("numpy", False, 65535)):
        _on(monkeypatch, fast)
        monkeypatch.setattr(rk, "TWICE_MAX", twice_max)
        h = make(seed=101, P=60, rounded=True, holes=0.03)  # a new root: nothing cached
        wins = _windows(h)
        rows = _pooled_and_events(h, wins, 20)
        dtype = h._shared["corrado-ranks"][0].dtype
        assert dtype == {"u16": np.uint16, "f32": np.float32, "numpy": np.float32}[name]
        out[name] = rows
    pd.testing.assert_frame_equal(out["u16"], out["f32"], check_exact=True)
    for t in RANK_TESTS:
        assert out["u16"]["statistic"][out["u16"]["test"] == t].notna().sum() >= 4, t
    for c in ("estimate", "statistic", "p_value"):
        _same(out["u16"][c], out["numpy"][c])


@pytest.mark.parametrize("make", [_full, _compact])
@pytest.mark.parametrize("P", [1, 2, 17])
def test_cz_and_grank_twice_ranks_are_twice_the_float32(make, P, monkeypatch, small_chunks):
    """CZ's and GRANK's kernel ranks: uint16 twice the float32 ranks (forced by TWICE_MAX),
    the same counts and positions."""
    g = make(seed=110 + P, P=P, rounded=True, tied_days=True)
    vs = np.random.default_rng(P).standard_normal((2, P))
    u = rk.cz_ranks(g), rk.grank_base(g, vs)
    monkeypatch.setattr(rk, "TWICE_MAX", 0)
    f = rk.cz_ranks(g), rk.grank_base(g, vs)
    for (hu, *rest_u), (hf, *rest_f) in zip(u, f):
        assert hu.dtype == np.uint16 and hf.dtype == np.float32
        assert hu.T.flags.c_contiguous and hf.T.flags.c_contiguous
        np.testing.assert_array_equal(np.where(hu == 0, np.nan, hu), 2.0 * hf)
        for a, b in zip(rest_u, rest_f):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("pick", ["all", "some", "two", "one", "none"])
def test_grank_window_from_twice_ranks_is_float32s_bitwise(pick, monkeypatch, small_chunks):
    """`grank_days` from uint16 twice the ranks is bit for bit its float32 self: v tied with
    a pair's SARs (three of them: days 4, 5, 6, and one), above all, below all, NaN."""
    g = _compact(seed=121, P=40, tied_days=True)
    srt = _kernel_sars(g)
    P = len(g.keys)
    rng = np.random.default_rng(4)
    vs = rng.standard_normal((1, P))
    for p in range(P):
        fin = srt[p][np.isfinite(srt[p])]
        if len(fin):
            vs[0, p] = fin[rng.integers(len(fin))]           # ties with one of its SARs
    vals, counts = np.unique(srt[0][np.isfinite(srt[0])], return_counts=True)
    vs[0, 0] = vals[counts.argmax()]                         # with three
    vs[0, 5], vs[0, 6], vs[0, 7] = np.inf, -np.inf, np.nan
    hu, m, lt, le = rk.grank_base(g, vs)
    monkeypatch.setattr(rk, "TWICE_MAX", 0)
    hf, m_f, lt_f, le_f = rk.grank_base(g, vs)
    assert hu.dtype == np.uint16 and hf.dtype == np.float32
    np.testing.assert_array_equal(lt, lt_f)
    np.testing.assert_array_equal(le, le_f)
    assert (le[0] - lt[0] == 3)[0]
    cols = {"all": np.arange(P), "some": np.array([0, 2, 3, 5, 6, 7, 12, 39]),
            "two": np.array([0, 9]), "one": np.array([0]), "none": np.zeros(0, np.int64)}[pick]
    inv = 1.0 / (m + 2.0)
    a = rk.grank_days(lt[0], le[0], m, hu, inv, cols)
    b = rk.grank_days(lt[0], le[0], m, hf, inv, cols)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    if pick in ("all", "some"):
        assert (a[3] % 1 == 0.5).any() and a[2].any()        # ties counted, ranks moved
