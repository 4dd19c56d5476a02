"""The numba kernels of the group rank tests (Corrado, Corrado-Zivney, GRANK) and their
drivers; `eventstudy.inference` reaches this module only through `_rank_kernels()` (the gate
of `fastpath.kernels_if_loaded`), so a small study never imports numba for them.

Why: the numpy path makes several (days x pairs) temporaries per step (masks, copies of the
selected columns, products) and reads the transposed rank matrices with fancy indexing; at
500,000 pairs each temporary is 1 GB. Here each step is one pass over the pairs' memory.

Work is cut into fixed chunks of `CHUNK` pairs run on `executors.kernel_threads()` threads;
each chunk returns its per-day partial sums, added in chunk order, so the results do not
depend on the thread count or timing. Against the numpy path (the reference) the daily sums
are taken in another order (last-bit differences; the sums of centred ranks cancel, so
relative differences reach ~1e-12 on estimates near zero); counts and ranks are exact. The
sorting itself is numpy's (its SIMD argsort, which lets go of the GIL, is several times faster
than a numba sort of short rows; a row with NaNs would take its slow path, so missing values
are +inf in the rows it sorts); the kernels build those rows and turn its order into average
ranks.

Ranks are half-integers: the kernels store them as uint16 twice the rank (0: not ranked) when
2 x days + 2 fits (`twice_fits`), half float32's memory (500,000 pairs x 262 days: 262 MB, not
524), and read h as 0.5 * h in float64, exactly the float32 rank promoted: the same bits.

The group's arrays come day-major (the engine's root matrix) or pair-major (a sub-group cut
from it with fancy indexing): the SAR kernels walk either in its own memory order, adding
each day's values in pair order both ways (the same bits). A small group's SARs are computed
once for the three passes that need them (`RAW_MAX`); a big one's are recomputed per pass
rather than held (1 GB per (days x pairs) float64 at 500,000 pairs).
"""
from __future__ import annotations

import numba
import numpy as np

from eventstudy.executors import kernel_map, thread_buffer

CHUNK = 2048        # pairs per chunk: fixed, so that sums never depend on the thread count
_JIT = dict(cache=True, nogil=True, error_model="numpy")


def chunks(n: int) -> list[tuple[int, int]]:
    return [(c, min(c + CHUNK, n)) for c in range(0, n, CHUNK)]


def run_chunks(fn, n: int) -> list:
    """[fn(c0, c1) for each chunk of n], on up to kernel_threads() threads, in chunk order."""
    return kernel_map(lambda c: fn(*c), chunks(n))


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------

RAW_MAX = 1 << 23    # cells: a group this small keeps its raw SARs (64 MB at most) for 3 passes
TILE = 64           # pairs per tile when a kernel turns day-major rows into pair-major ones
#: the largest "twice the rank" the kernels' uint16 ranks hold (Corrado's root ranks, CZ's,
#: GRANK's; a module constant so that a test can force the float32 form)
TWICE_MAX = int(np.iinfo(np.uint16).max)


# _sar_row and _sar_col spell out the same variance lookup on purpose: a shared jitted
# helper called per cell (a dozen array arguments) made them 30x slower, even inlined.
@numba.njit(**_JIT)
def _sar_row(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, d, p0, p1,
             out):
    """out[p - p0] = the standardized AR of pair p on day d (NaN where not finite), as
    `inference._sar`: ar / sqrt(var), var read as `GroupMatrix.var_rows` does; `est_only`:
    estimation rows only."""
    in_band = b0 <= d < b0 + var_band.shape[0]
    for p in range(p0, p1):
        if has_var:
            v = var[d, p]
        elif in_band and is_evt[d, p]:
            v = var_band[d - b0, p]
        elif is_est[d, p]:
            v = var_est[p]
        else:
            v = np.nan
        if est_only and not is_est[d, p]:
            v = np.nan
        x = ar[d, p] / np.sqrt(v)
        out[p - p0] = x if np.isfinite(x) else np.nan


@numba.njit(**_JIT)
def _sar_col(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, p, out):
    """out[d] = the standardized AR of pair p on day d, every day (as `_sar_row`): for
    pair-major inputs (a sub-group taken from the root is one)."""
    b1 = b0 + var_band.shape[0]
    for d in range(ar.shape[0]):
        if has_var:
            v = var[d, p]
        elif b0 <= d < b1 and is_evt[d, p]:
            v = var_band[d - b0, p]
        elif is_est[d, p]:
            v = var_est[p]
        else:
            v = np.nan
        if est_only and not is_est[d, p]:
            v = np.nan
        x = ar[d, p] / np.sqrt(v)
        out[d] = x if np.isfinite(x) else np.nan


@numba.njit(**_JIT)
def sar_day_sums(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, c0, c1):
    """Each day's sum and count of the finite SARs of pairs c0..c1-1 (each day's values
    added in pair order, whichever way the inputs are laid out: the same bits)."""
    D = ar.shape[0]
    s = np.zeros(D)
    n = np.zeros(D, np.int64)
    if ar.strides[0] < ar.strides[1]:           # pair-major: a pair's days are contiguous
        col = np.empty(D)
        for p in range(c0, c1):
            _sar_col(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, p, col)
            for d in range(D):
                x = col[d]
                if x == x:
                    s[d] += x
                    n[d] += 1
        return s, n
    buf = np.empty(c1 - c0)
    for d in range(D):
        _sar_row(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, d, c0, c1,
                 buf)
        acc = 0.0
        k = 0
        for x in buf:
            if x == x:
                acc += x
                k += 1
        s[d] = acc
        n[d] = k
    return s, n


@numba.njit(**_JIT)
def sar_day_squares(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, mean,
                    c0, c1):
    """Each day's sum of squared deviations from `mean[d]` of the finite SARs of c0..c1-1
    (in pair order, as `sar_day_sums`)."""
    D = ar.shape[0]
    ss = np.zeros(D)
    if ar.strides[0] < ar.strides[1]:
        col = np.empty(D)
        for p in range(c0, c1):
            _sar_col(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, p, col)
            for d in range(D):
                x = col[d]
                if x == x:
                    ss[d] += (x - mean[d]) * (x - mean[d])
        return ss
    buf = np.empty(c1 - c0)
    for d in range(D):
        _sar_row(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, d, c0, c1,
                 buf)
        acc = 0.0
        m = mean[d]
        for x in buf:
            if x == x:
                acc += (x - m) * (x - m)
        ss[d] = acc
    return ss


@numba.njit(**_JIT)
def sar_days_kept(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, sd):
    """Days on which some pair has a finite re-standardized SAR (a day's scan stops at the
    first tile that has one)."""
    D, P = ar.shape
    keep = np.zeros(D, np.bool_)
    buf = np.empty(TILE)
    for d in range(D):
        for p0 in range(0, P, TILE):
            p1 = min(p0 + TILE, P)
            _sar_row(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, d,
                     p0, p1, buf)
            for i in range(p1 - p0):
                if np.isfinite(buf[i] / sd[d]):
                    keep[d] = True
            if keep[d]:
                break
    return keep


@numba.njit(**_JIT)
def sar_rows(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, sd, days,
             c0, c1, out, key):
    """Pairs c0..c1-1's SARs on days[j] divided by sd[days[j]], pair-major: out[p - c0, j]
    (NaN where not finite) and key[p - c0, j] (+inf there: numpy's SIMD argsort falls back to
    a slow sort on rows with NaNs); `key` may be `out`. A tile of TILE days x TILE pairs is
    read along the days' rows, then written along the pairs' rows."""
    J = days.shape[0]
    if ar.strides[0] < ar.strides[1]:           # pair-major: a pair at a time
        col = np.empty(ar.shape[0])
        for p in range(c0, c1):
            _sar_col(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only, p, col)
            for j in range(J):
                y = col[days[j]] / sd[days[j]]
                ok = np.isfinite(y)
                out[p - c0, j] = y if ok else np.nan
                key[p - c0, j] = y if ok else np.inf
        return
    buf = np.empty((TILE, TILE + 8))          # padded: its columns fall in different sets
    for t0 in range(c0, c1, TILE):
        t1 = min(t0 + TILE, c1)
        for j0 in range(0, J, TILE):
            j1 = min(j0 + TILE, J)
            for j in range(j0, j1):
                d = days[j]
                _sar_row(ar, var, has_var, var_est, var_band, b0, is_est, is_evt, est_only,
                         d, t0, t1, buf[j - j0])
            for i in range(t1 - t0):
                for j in range(j0, j1):
                    y = buf[j - j0, i] / sd[days[j]]
                    ok = np.isfinite(y)
                    out[t0 - c0 + i, j] = y if ok else np.nan
                    key[t0 - c0 + i, j] = y if ok else np.inf


@numba.njit(**_JIT)
def ar_rows(ar, c0, c1, key):
    """key[p - c0, d] = ar[d, p] (+inf where not finite): pairs c0..c1-1, pair-major, in
    tiles as `sar_rows`."""
    D = ar.shape[0]
    if ar.strides[0] < ar.strides[1]:           # pair-major: a copy per pair
        for p in range(c0, c1):
            for d in range(D):
                x = ar[d, p]
                key[p - c0, d] = x if np.isfinite(x) else np.inf
        return
    buf = np.empty((TILE, TILE + 8))
    for t0 in range(c0, c1, TILE):
        t1 = min(t0 + TILE, c1)
        for d0 in range(0, D, TILE):
            d1 = min(d0 + TILE, D)
            for d in range(d0, d1):
                for i in range(t1 - t0):
                    buf[d - d0, i] = ar[d, t0 + i]
            for i in range(t1 - t0):
                for d in range(d0, d1):
                    x = buf[d - d0, i]
                    key[t0 - c0 + i, d] = x if np.isfinite(x) else np.inf


@numba.njit(**_JIT)
def raw_day_sums(raw, c0, c1):
    """`sar_day_sums` from pair-major raw SARs (+inf where missing): the same bits."""
    D = raw.shape[1]
    s = np.zeros(D)
    n = np.zeros(D, np.int64)
    for p in range(c0, c1):
        for d in range(D):
            x = raw[p, d]
            if np.isfinite(x):
                s[d] += x
                n[d] += 1
    return s, n


@numba.njit(**_JIT)
def raw_day_squares(raw, mean, c0, c1):
    """`sar_day_squares` from pair-major raw SARs: the same bits."""
    D = raw.shape[1]
    ss = np.zeros(D)
    for p in range(c0, c1):
        for d in range(D):
            x = raw[p, d]
            if np.isfinite(x):
                ss[d] += (x - mean[d]) * (x - mean[d])
    return ss


@numba.njit(**_JIT)
def raw_rows(raw, sd, days, c0, c1, key):
    """`sar_rows` (its key) from pair-major raw SARs: the same bits."""
    for p in range(c0, c1):
        for j in range(days.shape[0]):
            y = raw[p, days[j]] / sd[days[j]]
            key[p - c0, j] = y if np.isfinite(y) else np.inf


@numba.njit(**_JIT)
def average_ranks(x, order, ranks, m, rank, twice, v, lt, le):
    """Average ranks (1-based, ties averaged) of each row of x, given its ascending argsort
    `order` (+inf last), into `ranks` (when `rank`): float32 ranks, NaN where x is not finite,
    or (`twice`: `ranks` uint16) twice the rank, 0 where x is not finite (a tie run over
    sorted positions a..b has rank (a + b) / 2 + 1: twice it is the integer a + b + 2);
    m: finite values per row; lt[w, i] (le[w, i]): how many of row i's finite values are
    below (at most) v[w, i], by searchsorted on them sorted (GRANK: where window w's v falls
    among pair i's SARs, found while they are sorted here: no (pairs x days) sorted copy)."""
    R, D = x.shape
    srt = np.empty(D)
    unit = 1.0 if twice else 0.5            # (a + b + 2) * unit: exact in float64
    miss = 0.0 if twice else np.nan
    for i in range(R):
        row = x[i]
        o = order[i]
        for j in range(D):
            srt[j] = row[o[j]]
        k = D
        while k > 0 and not np.isfinite(srt[k - 1]):
            k -= 1
        m[i] = k
        for w in range(v.shape[0]):
            lt[w, i] = np.searchsorted(srt[:k], v[w, i], side="left")
            le[w, i] = np.searchsorted(srt[:k], v[w, i], side="right")
        if not rank:
            continue
        out = ranks[i]
        for j in range(k, D):
            out[o[j]] = miss
        a = 0
        while a < k:
            b = a
            while b + 1 < k and srt[b + 1] == srt[a]:
                b += 1
            r = (a + b + 2) * unit          # float32 ranks: (a + b) / 2 + 1, as before
            for j in range(a, b + 1):
                out[o[j]] = r
            a = b + 1


@numba.njit(**_JIT)
def rank_day_sums(ranks, m, cols, k0, k1):
    """Each day's sum and count of ranks / (m + 1) - 0.5 over the pairs cols[k0:k1] (rows of
    the pair-major float32 `ranks`; NaN: not ranked)."""
    D = ranks.shape[1]
    s = np.zeros(D)
    n = np.zeros(D, np.int64)
    for i in range(k0, k1):
        p = cols[i]
        scale = m[p] + 1.0
        for d in range(D):
            r = ranks[p, d]
            if r == r:
                s[d] += np.float64(r) / scale - 0.5
                n[d] += 1
    return s, n


@numba.njit(**_JIT)
def twice_day_sums(twice, m, cols, k0, k1):
    """`rank_day_sums` from uint16 twice the ranks (0: not ranked): 0.5 * h in float64 is the
    float32 rank promoted to float64, so the same bits."""
    D = twice.shape[1]
    s = np.zeros(D)
    n = np.zeros(D, np.int64)
    for i in range(k0, k1):
        p = cols[i]
        scale = m[p] + 1.0
        for d in range(D):
            h = twice[p, d]
            if h != 0:
                s[d] += 0.5 * np.float64(h) / scale - 0.5
                n[d] += 1
    return s, n


@numba.njit(**_JIT)
def grank_window(lt, le, m, ranks, inv, cols, k0, k1):
    """One GRANK window over the pairs cols[k0:k1]: each day's count of ranked pairs, sum of
    rank * inv, and sum of inv over the pairs whose SAR is above the window's v (half for a
    tie); each pair's number of SARs above v (halves for ties). Read off the float32 ranks
    alone, with lt[p] (le[p]) of pair p's m sorted SARs below (at most) v (`average_ranks`):
    a SAR is above v when its average rank is above le, and equal to v when its rank is
    lt + (le - lt + 1) / 2 (and le > lt) - exact in halves."""
    T = ranks.shape[1]
    n_t = np.zeros(T, np.int64)
    rank_sum = np.zeros(T)
    moved = np.zeros(T)
    up = np.zeros(k1 - k0)
    for i in range(k0, k1):
        p = cols[i]
        w = inv[p]
        mp = m[p]
        below = np.int64(lt[p])
        upto = np.int64(le[p])
        above = np.float32(upto)        # halves below 2**22: exact in float32
        tie = np.float32(below + (upto - below + 1) / 2.0) if upto > below \
            else np.float32(-1.0)
        half = 0.5 * w
        for d in range(T):              # selects: a NaN rank adds zeros
            r = ranks[p, d]
            fin = r == r
            n_t[d] += fin
            rank_sum[d] += np.float64(r) * w if fin else 0.0
            moved[d] += (w if r > above else 0.0) + (half if r == tie else 0.0)
        up[i - k0] = (mp - upto) + 0.5 * (upto - below)
    return n_t, rank_sum, moved, up


@numba.njit(**_JIT)
def twice_window(lt, le, m, twice, inv, cols, k0, k1):
    """`grank_window` from uint16 twice the ranks h (0: not ranked): the same sums in the
    same order, so the same bits (0.5 * h is the float32 rank promoted to float64; a rank is
    above le when h > 2 le, and the tie's rank lt + (le - lt + 1) / 2 is h = lt + le + 1)."""
    T = twice.shape[1]
    n_t = np.zeros(T, np.int64)
    rank_sum = np.zeros(T)
    moved = np.zeros(T)
    up = np.zeros(k1 - k0)
    for i in range(k0, k1):
        p = cols[i]
        w = inv[p]
        mp = m[p]
        below = np.int64(lt[p])
        upto = np.int64(le[p])
        above = 2 * upto
        tie = below + upto + 1 if upto > below else np.int64(-1)
        half = 0.5 * w
        for d in range(T):              # selects: an unranked day adds zeros
            h = np.int64(twice[p, d])
            fin = h != 0
            n_t[d] += fin
            rank_sum[d] += 0.5 * np.float64(h) * w if fin else 0.0
            moved[d] += (w if h > above else 0.0) + (half if h == tie else 0.0)
        up[i - k0] = (mp - upto) + 0.5 * (upto - below)
    return n_t, rank_sum, moved, up


# --------------------------------------------------------------------------------------------
# drivers (called by eventstudy.inference)
# --------------------------------------------------------------------------------------------

def _source(g, est_only: bool) -> tuple:
    """The arguments that `_sar_row` / `_sar_col` read a group's SARs from."""
    if g.var is not None:
        var, var_est, var_band, b0 = g.var, np.zeros(0), np.zeros((0, 0)), 0
    else:
        var, var_est, var_band, b0 = np.zeros((0, 0)), g.var_est, g.var_band, g.band[0]
    return (g.ar, var, g.var is not None, var_est, var_band, int(b0), g.is_est, g.is_evt,
            bool(est_only))


def _scratch(rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) float64 scratch array of this thread, reused from chunk to chunk."""
    return thread_buffer("rank-keys", max(rows, CHUNK) * cols)[:rows * cols].reshape(rows, cols)


def _add(parts: list, i: int, D: int, dtype=float) -> np.ndarray:
    """The chunks' partials number i, added in chunk order."""
    out = np.zeros(D, dtype)
    for part in parts:
        out += part[i]
    return out


def day_sd(src: tuple, D: int, P: int, raw: np.ndarray | None = None) -> np.ndarray:
    """Each day's sd (ddof 1, NaN below 2) of the finite SARs over every pair (`_day_sd`),
    from the group's arrays or its raw SARs (`_raw`)."""
    if raw is None:
        parts = run_chunks(lambda c0, c1: sar_day_sums(*src, c0, c1), P)
    else:
        parts = run_chunks(lambda c0, c1: raw_day_sums(raw, c0, c1), P)
    s, n = _add(parts, 0, D), _add(parts, 1, D, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    if raw is None:
        parts = run_chunks(lambda c0, c1: (sar_day_squares(*src, mean, c0, c1),), P)
    else:
        parts = run_chunks(lambda c0, c1: (raw_day_squares(raw, mean, c0, c1),), P)
    ss = _add(parts, 0, D)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, np.sqrt(ss / (n - 1)), np.nan)


def _raw(src: tuple, D: int, P: int) -> np.ndarray | None:
    """A small group's SARs, pair-major (+inf where missing), computed once for the three
    passes (sums, squares, rows) instead of once per pass; None for a big group."""
    if D * P > RAW_MAX:
        return None
    raw = np.empty((P, D))
    ones, days = np.ones(D), np.arange(D, dtype=np.int64)
    run_chunks(lambda c0, c1: sar_rows(*src, ones, days, c0, c1, raw[c0:c1], raw[c0:c1]), P)
    return raw


def twice_fits(D: int) -> bool:
    """Whether twice the ranks among D values (at most 2 D; 0 for none) fit in `TWICE_MAX`."""
    return 2 * D + 2 <= TWICE_MAX


def _ranked(P: int, D: int, fill, v: np.ndarray | None = None, rank: bool = True,
            twice: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pair-major float32 ranks (P, D) (when `rank`; else (0, D)), or with `twice` uint16
    twice the ranks (0: not ranked; `twice_fits(D)` must hold), and counts (P,) of the rows
    `fill(c0, c1)` returns (chunk rows x D, float64, +inf = missing), a chunk at a time; with
    `v` (W, P), where each v[w, p] falls among row p's sorted values: lt, le (W, P) int32
    (see `average_ranks`)."""
    if twice and not twice_fits(D):
        raise ValueError("too many days for uint16 twice the ranks")
    if D >= 1 << 22:
        raise ValueError("too many days for float32 ranks")
    ranks = np.empty((P if rank else 0, D), dtype=np.uint16 if twice else np.float32)
    m = np.zeros(P, np.int64)
    v = np.zeros((0, P)) if v is None else np.ascontiguousarray(v, dtype=float)
    lt = np.zeros(v.shape, np.int32)
    le = np.zeros(v.shape, np.int32)

    def one(c0, c1):
        key = fill(c0, c1)
        order = np.argsort(key, axis=1)        # inf last; ties get one rank in any order
        average_ranks(key, order, ranks[c0:c1], m[c0:c1], rank, twice, v[:, c0:c1],
                      lt[:, c0:c1], le[:, c0:c1])

    run_chunks(one, P)
    return ranks, m, lt, le


def column_ranks(ar: np.ndarray, twice: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each column's average ranks of `ar` (D, P) as a (D, P) view of pair-major float32, and
    each column's number of ranked values; with `twice` (`inference._root_ranks`), uint16
    twice the ranks (0: not ranked: half the memory) when they fit (`twice_fits`), else the
    float32 ranks."""
    D, P = ar.shape
    twice = twice and twice_fits(D)

    def fill(c0, c1):
        key = _scratch(c1 - c0, D)
        ar_rows(ar, c0, c1, key)
        return key

    ranks, m, _, _ = _ranked(P, D, fill, twice=twice)
    return ranks.T, m


def cz_ranks(g) -> tuple[np.ndarray, np.ndarray]:
    """Corrado-Zivney's ranks of every pair of the group (`inference._cz_group_ranks`): uint16
    twice the ranks when they fit (`twice_fits`), else float32 (`day_sums` reads either)."""
    D, P = g.ar.shape
    src = _source(g, False)
    raw = _raw(src, D, P)
    sd = day_sd(src, D, P, raw)
    days = np.arange(D, dtype=np.int64)

    def fill(c0, c1):
        key = _scratch(c1 - c0, D)
        if raw is None:
            sar_rows(*src, sd, days, c0, c1, key, key)
        else:
            raw_rows(raw, sd, days, c0, c1, key)
        return key

    ranks, m, _, _ = _ranked(P, D, fill, twice=twice_fits(D))
    return ranks.T, m


def grank_base(g, v: np.ndarray | None = None, rank: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GRANK's re-standardized estimation SARs on the days some pair has one (T of them):
    their ranks as a (T, P) view of a pair-major array (`rank`; uint16 twice the ranks when
    they fit, `twice_fits`, else float32: `grank_days` reads either), each pair's count m,
    and, for each row of `v` (W, P: a window's re-standardized SCARs), how many of each
    pair's SARs are below (at most) it, lt and le (W, P) int32, found while the pair's SARs
    are sorted (`inference._grank_base`): a window needs only those and the ranks, and no
    (P, T) float64 of sorted SARs (0.96 GB at 500,000 pairs x 240 days) is kept."""
    D, P = g.ar.shape
    src = _source(g, True)
    raw = _raw(src, D, P)
    sd = day_sd(src, D, P, raw)
    days = np.flatnonzero(sar_days_kept(*src, sd)).astype(np.int64)
    T = len(days)

    def fill(c0, c1):
        key = _scratch(c1 - c0, T)
        if raw is None:
            sar_rows(*src, sd, days, c0, c1, key, key)
        else:
            raw_rows(raw, sd, days, c0, c1, key)
        return key

    ranks, m, lt, le = _ranked(P, T, fill, v, rank, twice=twice_fits(T))
    return ranks.T, m, lt, le


def day_means(ranks: np.ndarray, m: np.ndarray, cols: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Each day's mean of ranks / (m + 1) - 0.5 over the pairs `cols` (NaN where none) and
    their count; `ranks` a (D, P) view of a pair-major array (`inference._corrado_base`)."""
    s, n = day_sums(ranks, m, cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan), n


def day_sums(ranks: np.ndarray, m: np.ndarray, cols: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Each day's sum and count of ranks / (m + 1) - 0.5 over the pairs `cols`; `ranks`
    float32, or uint16 twice the ranks (`column_ranks`): the same bits."""
    pm = ranks.T
    if not pm.flags.c_contiguous:
        pm = np.ascontiguousarray(pm)
    D = pm.shape[1]
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    m = np.ascontiguousarray(m, dtype=np.int64)
    kernel = twice_day_sums if pm.dtype == np.uint16 else rank_day_sums
    parts = run_chunks(lambda k0, k1: kernel(pm, m, cols, k0, k1), len(cols))
    return _add(parts, 0, D), _add(parts, 1, D, np.int64)


def grank_days(lt: np.ndarray, le: np.ndarray, m: np.ndarray, ranks: np.ndarray,
               inv: np.ndarray, cols: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One window's (n_t, rank_sum, moved, up) over the pairs `cols` (see `grank_window`);
    lt, le (P,) where the window's v falls among each pair's sorted SARs (`grank_base`),
    `ranks` a (T, P) view of pair-major ranks: float32, or uint16 twice the ranks
    (`twice_window`: the same bits)."""
    r_pm = ranks.T
    if not r_pm.flags.c_contiguous:
        r_pm = np.ascontiguousarray(r_pm)
    T = r_pm.shape[1]
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    lt = np.ascontiguousarray(lt, dtype=np.int32)
    le = np.ascontiguousarray(le, dtype=np.int32)
    inv = np.ascontiguousarray(inv, dtype=float)
    m = np.ascontiguousarray(m, dtype=np.int64)
    kernel = twice_window if r_pm.dtype == np.uint16 else grank_window
    parts = run_chunks(lambda k0, k1: kernel(lt, le, m, r_pm, inv, cols, k0, k1), len(cols))
    n_t, rank_sum, moved = (_add(parts, 0, T, np.int64), _add(parts, 1, T),
                            _add(parts, 2, T))
    up = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
    return n_t, rank_sum, moved, up
