"""The numba kernels of the fast path (see eventstudy.fastpath, which imports this module only
when numba is installed and a block is big enough). Compiled on first use and cached on disk
(`cache=True`: numba's cache folder, __pycache__ beside this file or NUMBA_CACHE_DIR)."""
import numba
import numpy as np

OK, SHORT, DOUBT, CONSTANT, FEW, SKIPPED = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True, nogil=True)
def _inverse(xtx, k):
    if k == 1:
        out = np.empty((1, 1))
        out[0, 0] = 1.0 / xtx[0, 0]
        return out
    if k == 2:
        a, b, c = xtx[0, 0], xtx[0, 1], xtx[1, 1]
        det = a * c - b * b
        out = np.empty((2, 2))
        out[0, 0] = c / det
        out[0, 1] = -b / det
        out[1, 0] = -b / det
        out[1, 1] = a / det
        return out
    return np.linalg.inv(xtx)


@numba.njit(cache=True, nogil=True)
def _clear_rank(xtx, k):
    """Smallest eigenvalue of X'X clearly above the largest times 1e-8 (the numpy path's
    test), with a margin: a pair near the line is left to the numpy path (DOUBT)."""
    if k == 1:
        return xtx[0, 0] > 0.0
    if k == 2:
        a, b, c = xtx[0, 0], xtx[0, 1], xtx[1, 1]
        h = 0.5 * (a - c)
        r = np.sqrt(h * h + b * b)
        m = 0.5 * (a + c)
        return (m - r) > (m + r) * 1e-7
    lam = np.linalg.eigvalsh(xtx)
    return lam[0] > lam[k - 1] * 1e-7


@numba.njit(cache=True, nogil=True)
def fused(ret, span, X, off, has_off, valid, exists, excluded, col, r0, je0, je1, jw0,
          rel_w, wins, last_rel, todo, min_est, log, rel_tol, dest,
          resid, expected, ar_var, path_var, car, var, t, bhar, n_days, n_gaps, waiting,
          boot_p, boot_m, sigma2, dof, n_est):
    """One pass per pair over its rows, read in place from security-major arrays (U, S):
    pair p's day i is row r0[p] + i of column col[p] (outside 0..S-1: no row). Counts the
    usable estimation rows (n, and those kept out as event rows); for the pairs in `todo`
    with n >= min_est: masked normal equations, residuals and sigma^2, the window rows
    (expected return, AR and running-CAR variances), each event window's CAR, variance, t,
    BHAR, days and gaps, and the pair bootstrap's counts (see engine). Results of a settled
    pair (status OK) go to row dest[p] of the output arrays; the rest stay as they are
    (but for the estimation columns of `resid`, set NaN where a fitted pair has no row: it may
    be a reused buffer).
    Estimation columns je0..je1-1 of the L days, window columns jw0..jw0+W-1."""
    P = col.shape[0]
    S = ret.shape[1]
    k = X.shape[2]
    W = rel_w.shape[0]
    nw = wins.shape[0]
    nan = np.nan
    status = np.full(P, SKIPPED, np.int8)
    n_all = np.zeros(P, np.int64)
    n_out = np.zeros(P, np.int64)
    T = je1 - je0
    csum = np.zeros(T + 1)
    bad = np.zeros(T + 1, np.int64)
    xtx = np.zeros((k, k))
    xty = np.zeros(k)
    beta = np.zeros(k)
    cum = np.zeros(k)
    s = np.zeros(k)
    ok = np.zeros(W, np.bool_)
    est = np.zeros(T, np.bool_)
    y = np.zeros(T)
    ex = np.zeros(W, np.bool_)
    for p in range(P):
        c = col[p]
        # --- the estimation rows: usable (valid, one-session return, complete), kept out
        n = 0
        m = 0
        xtx[:, :] = 0.0            # the normal equations, summed while counting (in order)
        xty[:] = 0.0
        fit = todo[p]
        for i in range(T):
            r = r0[p] + je0 + i
            est[i] = False
            if r < 0 or r >= S or not valid[c, r] or span[c, r] != 1.0:
                continue
            good = np.isfinite(ret[c, r])
            if has_off:
                good = good and np.isfinite(off[c, r])
            for a in range(k):
                good = good and np.isfinite(X[c, r, a])
            if not good:
                continue
            if excluded[c, r]:
                m += 1
                continue
            est[i] = True
            y[i] = ret[c, r] - (off[c, r] if has_off else 0.0)
            n += 1
            if fit:
                for a in range(k):
                    xa = X[c, r, a]
                    xty[a] += xa * y[i]
                    for b_ in range(a + 1):
                        xtx[a, b_] += xa * X[c, r, b_]
        n_all[p] = n
        n_out[p] = m
        if not todo[p]:
            continue
        if n < min_est:
            status[p] = FEW
            continue
        if n <= k + 1:
            status[p] = SHORT
            continue
        q = dest[p]
        # --- fit -------------------------------------------------------------------
        if k == 0:
            acc = 0.0
            for i in range(T):
                if est[i]:
                    acc += y[i]
            mean = acc / n
            ss = 0.0
            for i in range(T):
                if est[i]:
                    d = y[i] - mean
                    ss += d * d
                    resid[q, je0 + i] = y[i]
                else:
                    resid[q, je0 + i] = nan
            s2 = ss / (n - 1)
            dof_ = n - 1
            V = np.zeros((0, 0))
        else:
            for a in range(k):
                for b_ in range(a):
                    xtx[b_, a] = xtx[a, b_]
            if not _clear_rank(xtx, k):
                status[p] = DOUBT
                continue
            V = _inverse(xtx, k)
            for a in range(k):
                acc = 0.0
                for b_ in range(k):
                    acc += V[a, b_] * xty[b_]
                beta[a] = acc
            ss = 0.0
            for i in range(T):
                if est[i]:
                    r = r0[p] + je0 + i
                    f = 0.0
                    for a in range(k):
                        f += X[c, r, a] * beta[a]
                    e = y[i] - f
                    resid[q, je0 + i] = e
                    ss += e * e
                else:
                    resid[q, je0 + i] = nan
            s2 = ss / (n - k)
            dof_ = n - k
        if not s2 > 1e-16:
            status[p] = CONSTANT
            for i in range(T):
                resid[q, je0 + i] = nan
            continue
        status[p] = OK
        sigma2[q] = s2
        dof[q] = dof_
        n_est[q] = n
        boot_m[q, :] = 0.0
        # --- window rows: expected, AR variance, running CAR variance ---------------
        cum[:] = 0.0
        cspan = 0.0
        for j in range(W):
            r = r0[p] + jw0 + j
            inside = r >= 0 and r < S
            ex[j] = inside and exists[c, r]
            good = ex[j] and np.isfinite(ret[c, r])
            if good and has_off:
                good = np.isfinite(off[c, r])
            for a in range(k):
                good = good and np.isfinite(X[c, r, a])
            ok[j] = good
            if not good:
                continue
            f = 0.0
            quad = 0.0
            for a in range(k):
                f += X[c, r, a] * beta[a]
                cum[a] += X[c, r, a]
            cspan += span[c, r]
            qc = 0.0
            for a in range(k):
                for b_ in range(k):
                    quad += X[c, r, a] * V[a, b_] * X[c, r, b_]
                    qc += cum[a] * V[a, b_] * cum[b_]
            expected[q, j] = (off[c, r] if has_off else 0.0) + f
            ar_var[q, j] = s2 * (span[c, r] + quad)
            path_var[q, j] = s2 * (cspan + qc)
        # --- event windows ------------------------------------------------------------
        for w in range(nw):
            w0, w1 = wins[w, 0], wins[w, 1]
            nd = 0
            ng = 0
            sc = 0.0
            sspan = 0.0
            sr = 0.0
            se_ = 0.0
            pr = 1.0
            pe = 1.0
            s[:] = 0.0
            for j in range(W):
                if rel_w[j] < w0 or rel_w[j] > w1:
                    continue
                r = r0[p] + jw0 + j
                if ex[j] and not valid[c, r]:
                    ng += 1
                if not ok[j]:
                    continue
                nd += 1
                sc += ret[c, r] - expected[q, j]
                sspan += span[c, r]
                sr += ret[c, r]
                se_ += expected[q, j]
                pr *= 1.0 + ret[c, r]
                pe *= 1.0 + expected[q, j]
                for a in range(k):
                    s[a] += X[c, r, a]
            n_days[q, w] = nd
            n_gaps[q, w] = ng
            wait = w1 > last_rel[p]
            waiting[q, w] = 1.0 if wait else 0.0
            if nd == 0 or wait:
                continue
            extra = 0.0
            for a in range(k):
                for b_ in range(k):
                    extra += s[a] * V[a, b_] * s[b_]
            v = s2 * (sspan + extra)
            se = np.sqrt(v)
            car[q, w] = sc
            var[q, w] = v
            t[q, w] = sc / se
            bhar[q, w] = (np.expm1(sr) - np.expm1(se_)) if log else (pr - pe)
        # --- pair bootstrap (inference.pair_bootstrap_matrix, the same sums) -----------
        for i in range(T):
            e = resid[q, je0 + i]
            fin = np.isfinite(e)
            csum[i + 1] = csum[i] + (e if fin else 0.0)
            bad[i + 1] = bad[i] + (0 if fin else 1)
        for w in range(nw):
            L_ = int(n_days[q, w])
            if not np.isfinite(car[q, w]) or L_ < 1 or L_ > T:
                continue
            thr = np.abs(car[q, w]) * (1 - rel_tol)
            cnt = 0
            mm = 0
            for i in range(T - L_ + 1):
                if bad[i + L_] - bad[i] == 0:
                    mm += 1
                    if np.abs(csum[i + L_] - csum[i]) >= thr:
                        cnt += 1
            boot_m[q, w] = mm
            if mm > 0:
                boot_p[q, w] = (cnt + 1) / (mm + 1)
    return status, n_all, n_out



@numba.njit(cache=True, nogil=True)
def _kahan_add(out, comp, acc, d, x):
    """out[acc, d] += x as pandas' groupby sum/mean adds (Kahan, the compensation reset
    when an infinity makes it NaN)."""
    y = x - comp[acc, d]
    t = out[acc, d] + y
    comp[acc, d] = t - out[acc, d] - y
    if comp[acc, d] != comp[acc, d]:
        comp[acc, d] = 0.0
    out[acc, d] = t


@numba.njit(cache=True, nogil=True)
def group_day_sums(rows, ar, ar_var, path, path_var, has):
    """engine._aar_sums: over the pairs `rows` (in pair order) of the (P, W) window arrays,
    per day: 0 the rows (`has`), 1 the non-NaN ARs, 2 their sum, 3 the sum of the AR
    variances, 4 the non-NaN CAR paths, 5 their sum, 6 the sum of the path variances; each
    sum Kahan-compensated row by row as pandas' groupby sum and mean are (the same bits as
    `engine.group_aar` on the AR frame)."""
    W = ar.shape[1]
    out = np.zeros((7, W))
    comp = np.zeros((7, W))
    for i in rows:
        for d in range(W):
            if not has[i, d]:
                continue
            out[0, d] += 1.0
            x = ar[i, d]
            if x == x:
                out[1, d] += 1.0
                _kahan_add(out, comp, 2, d, x)
            x = ar_var[i, d]
            if x == x:
                _kahan_add(out, comp, 3, d, x)
            x = path[i, d]
            if x == x:
                out[4, d] += 1.0
                _kahan_add(out, comp, 5, d, x)
            x = path_var[i, d]
            if x == x:
                _kahan_add(out, comp, 6, d, x)
    return out


@numba.njit(cache=True, nogil=True)
def scatter_columns(dst, src, cols):
    """dst[d, cols[i]] = src[i, d]: a block's pair-major rows into their columns of a
    day-major group matrix (engine.GroupFill). Pairs in column order, a tile of 64 at a time:
    a block's pairs are runs of adjacent columns (its securities within each event), so a
    row's writes fall on a few cache lines (numpy's fancy-index assignment of the transpose
    took ~0.75 s a block of 20,000 pairs, a tile in pair order ~0.5 s)."""
    n, L = src.shape
    order = np.argsort(cols)
    for t0 in range(0, n, 64):
        t1 = min(t0 + 64, n)
        for d in range(L):
            for k in range(t0, t1):
                i = order[k]
                dst[d, cols[i]] = src[i, d]
