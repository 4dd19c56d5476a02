"""The numba kernels of the fast path (see eventstudy.fastpath, which imports this module only
when numba is installed and a block is big enough). Compiled on first use and cached on disk
(`cache=True`: numba's cache folder, __pycache__ beside this file or NUMBA_CACHE_DIR)."""
import numba
import numpy as np

OK, SHORT, DOUBT, CONSTANT = 0, 1, 2, 3


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
def fused(y, X, est, ret_w, off_w, span_w, X_w, exists_w, gap_w, rel_w, wins, last_rel,
          log, je0, je1, rel_tol):
    """One pass per pair over its rows: masked normal equations, residuals and sigma^2, the
    window rows (expected return, AR and running-CAR variances), each event window's CAR,
    variance, t, BHAR, days and gaps, and the pair bootstrap's counts (see engine)."""
    P, L = y.shape
    k = X.shape[2]
    W = ret_w.shape[1]
    nw = wins.shape[0]
    nan = np.nan
    status = np.zeros(P, np.int8)
    n_est = np.zeros(P, np.int64)
    dof = np.zeros(P, np.int64)
    sigma2 = np.full(P, nan)
    resid = np.full((P, L), nan)
    expected = np.full((P, W), nan)
    ar_var = np.full((P, W), nan)
    path_var = np.full((P, W), nan)
    car = np.full((P, nw), nan)
    var = np.full((P, nw), nan)
    t = np.full((P, nw), nan)
    bhar = np.full((P, nw), nan)
    n_days = np.zeros((P, nw))
    n_gaps = np.zeros((P, nw))
    waiting = np.zeros((P, nw))
    boot_p = np.full((P, nw), nan)
    boot_m = np.zeros((P, nw))
    T = je1 - je0
    csum = np.zeros(T + 1)
    bad = np.zeros(T + 1, np.int64)
    xtx = np.zeros((k, k))
    xty = np.zeros(k)
    beta = np.zeros(k)
    cum = np.zeros(k)
    s = np.zeros(k)
    ok = np.zeros(W, np.bool_)
    for p in range(P):
        n = 0
        for i in range(L):
            if est[p, i]:
                n += 1
        n_est[p] = n
        if n <= k + 1:
            status[p] = SHORT
            continue
        # --- fit -------------------------------------------------------------------
        if k == 0:
            acc = 0.0
            for i in range(L):
                if est[p, i]:
                    acc += y[p, i]
            mean = acc / n
            ss = 0.0
            for i in range(L):
                if est[p, i]:
                    d = y[p, i] - mean
                    ss += d * d
                    resid[p, i] = y[p, i]
            s2 = ss / (n - 1)
            dof[p] = n - 1
            V = np.zeros((0, 0))
        else:
            xtx[:, :] = 0.0
            xty[:] = 0.0
            for i in range(L):
                if est[p, i]:
                    for a in range(k):
                        xa = X[p, i, a]
                        xty[a] += xa * y[p, i]
                        for c in range(a + 1):
                            xtx[a, c] += xa * X[p, i, c]
            for a in range(k):
                for c in range(a):
                    xtx[c, a] = xtx[a, c]
            if not _clear_rank(xtx, k):
                status[p] = DOUBT
                continue
            V = _inverse(xtx, k)
            for a in range(k):
                acc = 0.0
                for c in range(k):
                    acc += V[a, c] * xty[c]
                beta[a] = acc
            ss = 0.0
            for i in range(L):
                if est[p, i]:
                    f = 0.0
                    for a in range(k):
                        f += X[p, i, a] * beta[a]
                    e = y[p, i] - f
                    resid[p, i] = e
                    ss += e * e
            s2 = ss / (n - k)
            dof[p] = n - k
        if not s2 > 1e-16:
            status[p] = CONSTANT
            for i in range(L):
                resid[p, i] = nan
            continue
        sigma2[p] = s2
        # --- window rows: expected, AR variance, running CAR variance ---------------
        cum[:] = 0.0
        cspan = 0.0
        for j in range(W):
            good = exists_w[p, j] and np.isfinite(ret_w[p, j]) and np.isfinite(off_w[p, j])
            for a in range(k):
                good = good and np.isfinite(X_w[p, j, a])
            ok[j] = good
            if not good:
                continue
            f = 0.0
            quad = 0.0
            for a in range(k):
                f += X_w[p, j, a] * beta[a]
                cum[a] += X_w[p, j, a]
            cspan += span_w[p, j]
            qc = 0.0
            for a in range(k):
                for c in range(k):
                    quad += X_w[p, j, a] * V[a, c] * X_w[p, j, c]
                    qc += cum[a] * V[a, c] * cum[c]
            expected[p, j] = off_w[p, j] + f
            ar_var[p, j] = s2 * (span_w[p, j] + quad)
            path_var[p, j] = s2 * (cspan + qc)
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
                if gap_w[p, j] and exists_w[p, j]:
                    ng += 1
                if not ok[j]:
                    continue
                nd += 1
                sc += ret_w[p, j] - expected[p, j]
                sspan += span_w[p, j]
                sr += ret_w[p, j]
                se_ += expected[p, j]
                pr *= 1.0 + ret_w[p, j]
                pe *= 1.0 + expected[p, j]
                for a in range(k):
                    s[a] += X_w[p, j, a]
            n_days[p, w] = nd
            n_gaps[p, w] = ng
            wait = w1 > last_rel[p]
            waiting[p, w] = 1.0 if wait else 0.0
            if nd == 0 or wait:
                continue
            extra = 0.0
            for a in range(k):
                for c in range(k):
                    extra += s[a] * V[a, c] * s[c]
            v = s2 * (sspan + extra)
            se = np.sqrt(v)
            car[p, w] = sc
            var[p, w] = v
            t[p, w] = sc / se
            bhar[p, w] = (np.expm1(sr) - np.expm1(se_)) if log else (pr - pe)
        # --- pair bootstrap (inference.pair_bootstrap_matrix, the same sums) -----------
        for i in range(T):
            e = resid[p, je0 + i]
            fin = np.isfinite(e)
            csum[i + 1] = csum[i] + (e if fin else 0.0)
            bad[i + 1] = bad[i] + (0 if fin else 1)
        for w in range(nw):
            L_ = int(n_days[p, w])
            if not np.isfinite(car[p, w]) or L_ < 1 or L_ > T:
                continue
            thr = np.abs(car[p, w]) * (1 - rel_tol)
            cnt = 0
            mm = 0
            for i in range(T - L_ + 1):
                if bad[i + L_] - bad[i] == 0:
                    mm += 1
                    if np.abs(csum[i + L_] - csum[i]) >= thr:
                        cnt += 1
            boot_m[p, w] = mm
            if mm > 0:
                boot_p[p, w] = (cnt + 1) / (mm + 1)
    return (status, n_est, dof, sigma2, resid, expected, ar_var, path_var, car, var, t,
            bhar, n_days, n_gaps, waiting, boot_p, boot_m)


@numba.njit(cache=True, nogil=True)
def bootstrap_counts(idx, y, y2, cls, has_cls, sd, thr, rel_tol):
    """inference._bootstrap_p's counts for one block of resamples `idx` (rows of draws):
    per window, resamples kept (spread above rel_tol * sd, not all one value or one tie
    class) and those whose |t| reaches `thr`. Sums over each row's draws instead of a
    count-matrix product: the same resamples, the same tests."""
    c, n = idx.shape
    W = y.shape[1]
    hits = np.zeros(W, np.int64)
    kept = np.zeros(W, np.int64)
    s1 = np.zeros(W)
    s2 = np.zeros(W)
    rn = np.sqrt(n)
    for b in range(c):
        s1[:] = 0.0
        s2[:] = 0.0
        first = idx[b, 0]
        single = True
        for i in range(n):
            j = idx[b, i]
            if j != first:
                single = False
            for k in range(W):
                s1[k] += y[j, k]
                s2[k] += y2[j, k]
        if single:
            continue
        for k in range(W):
            mb = s1[k] / n
            vb = (s2[k] - s1[k] * mb) / (n - 1)
            sb = np.sqrt(max(vb, 0.0))
            if not sb > rel_tol * sd[k]:
                continue
            if has_cls[k]:
                c0 = cls[k, first]
                same = True
                for i in range(1, n):
                    if cls[k, idx[b, i]] != c0:
                        same = False
                        break
                if same:
                    continue
            kept[k] += 1
            tb = mb / (sb / rn)
            if np.abs(tb) >= thr[k]:
                hits[k] += 1
    return hits, kept
