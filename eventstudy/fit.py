"""The normal-return models fitted for many pairs at once, and their abnormal returns.

Why: a pair's arithmetic takes microseconds; done one pair at a time through statsmodels and
pandas it took ~20 ms of overhead. Here every pair of a block is one row of (pairs x days)
arrays and each model is a few masked array operations. `eventstudy.models` stays the
readable per-pair reference (statsmodels OLS); the tests hold the two equal.

Every function is pure (arrays in, arrays out; no I/O, no randomness), so that a block of
pairs can be computed anywhere. Conventions are those of `eventstudy.models`: y - offset =
X b + e on the estimation rows; the first column of X is the return's span; AR variance
sigma^2 (span + x'(X'X)^-1 x); CAR variance sigma^2 (sum span + s'(X'X)^-1 s) with s the sum
of the window's x rows (MacKinlay 1997).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

_EPS = np.finfo(float).eps


@dataclass
class Fits:
    """One model fitted on a block of P pairs; `reason` is "" where the fit succeeded."""
    reason: np.ndarray        # (P,) object: why the pair cannot be fitted, else ""
    b: np.ndarray             # (P, k)
    V: np.ndarray             # (P, k, k) (X'X)^-1
    sigma2: np.ndarray        # (P,)
    dof: np.ndarray           # (P,) int
    n_est: np.ndarray         # (P,) int
    fitted: np.ndarray        # (P, L) bool: the rows the model was fitted on
    resid: np.ndarray         # (P, L) estimation residuals (NaN off `fitted`)
    est_var: np.ndarray       # (P, L) each fitted row's variance: sigma2, or GARCH h_t
    garch: dict | None = None  # omega, alpha, beta, last_h, last_e2: (P,) each


def _empty(P: int, L: int, k: int) -> Fits:
    return Fits(reason=np.full(P, "", dtype=object), b=np.full((P, k), np.nan),
                V=np.full((P, k, k), np.nan), sigma2=np.full(P, np.nan),
                dof=np.zeros(P, dtype=np.int64), n_est=np.zeros(P, dtype=np.int64),
                fitted=np.zeros((P, L), bool), resid=np.full((P, L), np.nan),
                est_var=np.full((P, L), np.nan))


def fit_ols(y: np.ndarray, X: np.ndarray, mask: np.ndarray) -> Fits:
    """OLS of y on X over the rows in `mask`, for every pair (k = 0: no regression, the
    residual is y itself and sigma^2 its sample variance: the market-adjusted model)."""
    P, L = y.shape
    k = X.shape[2]
    out = _empty(P, L, k)
    n = mask.sum(axis=1)
    out.n_est[:] = n
    short = n <= k + 1
    out.reason[short] = [f"{m} estimation observations for {k} parameters" for m in n[short]]
    todo = ~short
    if k == 0:
        ym = np.where(mask, y, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = ym.sum(axis=1) / n
            resid = np.where(mask, y, np.nan)
            sigma2 = np.where(mask, (y - mean[:, None]) ** 2, 0.0).sum(axis=1) / (n - 1)
        out.dof[:] = n - 1
    else:
        Xm = np.where(mask[..., None], X, 0.0)
        ym = np.where(mask, y, 0.0)
        xtx = np.einsum("plk,plj->pkj", Xm, Xm)
        xty = np.einsum("plk,pl->pk", Xm, ym)
        rank_ok = _full_rank(Xm, xtx, n) | short
        out.reason[todo & ~rank_ok] = ("the regressors are collinear in the estimation "
                                       "window (e.g. a constant benchmark)")
        todo &= rank_ok
        b = np.full((P, k), np.nan)
        V = np.full((P, k, k), np.nan)
        if todo.any():
            V[todo] = np.linalg.inv(xtx[todo])
            b[todo] = np.linalg.solve(xtx[todo], xty[todo][..., None])[..., 0]
        with np.errstate(invalid="ignore"):
            resid = np.where(mask, y - np.einsum("plk,pk->pl", X, b), np.nan)
            sigma2 = np.where(mask, resid ** 2, 0.0).sum(axis=1) / (n - k)
        out.b, out.V = b, V
        out.dof[:] = n - k
    constant = todo & ~(sigma2 > 1e-16)
    out.reason[constant] = "constant returns in the estimation window (residual variance 0)"
    good = out.reason == ""
    out.sigma2 = np.where(good, sigma2, np.nan)
    out.fitted = mask & good[:, None]
    out.resid = np.where(out.fitted, resid, np.nan)
    out.est_var = np.where(out.fitted, out.sigma2[:, None], np.nan)
    return out


def _full_rank(Xm: np.ndarray, xtx: np.ndarray, n: np.ndarray) -> np.ndarray:
    """numpy's matrix_rank(X) == k (singular values above s_max * max(n, k) * eps), decided
    on the eigenvalues of X'X where that is unambiguous and by an SVD of X elsewhere."""
    P, _, k = Xm.shape
    with np.errstate(invalid="ignore"):
        lam = np.linalg.eigvalsh(xtx)
    clear = lam[:, 0] > lam[:, -1] * 1e-8
    ok = clear.copy()
    doubt = np.flatnonzero(~clear)
    if len(doubt):
        s = np.linalg.svd(Xm[doubt], compute_uv=False)
        tol = s.max(axis=1) * np.maximum(n[doubt], k) * _EPS
        ok[doubt] = (s > tol[:, None]).sum(axis=1) == k
    return ok


def fit_scholes_williams(y, rm, lag1, lead1, span, mask) -> Fits:
    """Scholes & Williams (1977) beta as a market model (see models.fit_scholes_williams)."""
    P, L = y.shape
    out = _empty(P, L, 2)
    rows = mask & np.isfinite(lag1) & np.isfinite(lead1)
    n = rows.sum(axis=1)
    out.n_est[:] = n
    out.dof[:] = n - 2
    few = n <= 4
    out.reason[few] = [f"{m} estimation observations with a lead and a lag of the benchmark"
                       for m in n[few]]
    with np.errstate(invalid="ignore", divide="ignore"):
        def mean(a):
            return np.where(rows, a, 0.0).sum(axis=1) / n

        def centred(a):
            return np.where(rows, a - mean(a)[:, None], 0.0)
        yc = centred(y)
        slopes, constant = 0.0, np.zeros(P, bool)
        for x in (lag1, rm, lead1):
            xc = centred(x)
            sxx = (xc ** 2).sum(axis=1)
            constant |= ~(np.sqrt(sxx / n) > 0)
            slopes = slopes + (xc * yc).sum(axis=1) / sxx
        lc, rc = centred(lag1), centred(rm)
        rho = (lc * rc).sum(axis=1) / np.sqrt((lc ** 2).sum(axis=1) * (rc ** 2).sum(axis=1))
        beta = slopes / (1 + 2 * rho)
        alpha = mean(y) - beta * mean(rm)
        resid = np.where(rows, y - alpha[:, None] - beta[:, None] * rm, np.nan)
        sigma2 = np.where(rows, resid ** 2, 0.0).sum(axis=1) / (n - 2)
    todo = out.reason == ""
    out.reason[todo & constant] = "the benchmark is constant in the estimation window"
    todo &= ~constant
    bad_rho = todo & ~(1 + 2 * rho > 0)
    out.reason[bad_rho] = [f"benchmark autocorrelation {r:.2f} makes 1 + 2 rho <= 0"
                           for r in rho[bad_rho]]
    todo &= ~bad_rho
    out.reason[todo & ~(sigma2 > 1e-16)] = ("constant returns in the estimation window "
                                           "(residual variance 0)")
    good = out.reason == ""
    Xm = np.stack([np.where(rows, span, 0.0), np.where(rows, rm, 0.0)], axis=2)
    xtx = np.einsum("plk,plj->pkj", Xm, Xm)
    out.V[good] = np.linalg.inv(xtx[good])
    out.b = np.where(good[:, None], np.stack([alpha, beta], axis=1), np.nan)
    out.sigma2 = np.where(good, sigma2, np.nan)
    out.fitted = rows & good[:, None]
    out.resid = np.where(out.fitted, resid, np.nan)
    out.est_var = np.where(out.fitted, out.sigma2[:, None], np.nan)
    return out


def fit_garch(y, X, mask, names) -> Fits:
    """GARCH(1,1)-scaled market model: one QMLE per pair (arch's estimator,
    `models.garch11_qmle`; it has no batched form), each fit exactly `models.fit_garch` on the
    same rows."""
    import pandas as pd

    from eventstudy import models as mdl
    P, L = y.shape
    k = X.shape[2]
    out = _empty(P, L, k)
    out.garch = {name: np.full(P, np.nan) for name in ("omega", "alpha", "beta", "last_h",
                                                       "last_e2")}
    for p in range(P):      # one SLSQP optimisation per pair: ~10 ms each, loop cost negligible
        rows = np.flatnonzero(mask[p])
        est = pd.DataFrame(X[p, rows], columns=names)
        est["ret"] = y[p, rows]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = mdl.fit_garch(est, names)
        except mdl.ModelError as exc:
            out.n_est[p] = len(rows)
            out.reason[p] = str(exc)
            continue
        out.b[p] = fitted.params.to_numpy()
        out.V[p] = fitted.mean.xtx_inv
        out.sigma2[p], out.dof[p], out.n_est[p] = fitted.sigma2, fitted.dof, fitted.n_est
        out.fitted[p, rows] = True
        out.resid[p, rows] = fitted.residuals.to_numpy()
        out.est_var[p, rows] = fitted.estimation_variance
        for name in out.garch:
            out.garch[name][p] = getattr(fitted, name)
    return out


@dataclass
class Abnormal:
    """Event-window arrays of a block: rows are the plot/event window days (rel `rel`)."""
    rel: np.ndarray           # (W,)
    ok: np.ndarray            # (P, W) return and regressors present: the AR is defined
    expected: np.ndarray      # (P, W)
    abnormal: np.ndarray      # (P, W)
    ar_var: np.ndarray        # (P, W)
    path: np.ndarray          # (P, W) running CAR
    path_var: np.ndarray      # (P, W) its variance (NaN where the AR is missing)
    h: np.ndarray | None      # (P, W) GARCH conditional variances (times span)


def abnormal_returns(fits: Fits, rel, ret, span, X, offset, exists) -> Abnormal:
    """ARs, their prediction-error variances and the running CAR over the window rows."""
    ok = exists & np.isfinite(ret) & np.isfinite(offset) & np.isfinite(X).all(axis=2)
    ok &= (fits.reason == "")[:, None]
    with np.errstate(invalid="ignore"):
        expected = np.where(ok, offset + np.einsum("plk,pk->pl", X, fits.b), np.nan)
        abnormal = ret - expected
        Xo = np.where(ok[..., None], X, 0.0)
        so = np.where(ok, span, 0.0)
        s2 = fits.sigma2[:, None]
        h = None
        if fits.garch is not None:
            h = garch_filter(fits.garch, abnormal, span, exists)
            ar_var = np.where(ok, h, np.nan)
            path_var = np.where(ok, np.cumsum(np.where(ok, h, 0.0), axis=1), np.nan)
        else:
            ar_var = np.where(ok, s2 * (span + _quad(X, fits.V)), np.nan)
            cum = np.cumsum(Xo, axis=1)
            path_var = np.where(ok, s2 * (np.cumsum(so, axis=1) + _quad(cum, fits.V)), np.nan)
    path = np.cumsum(np.where(ok, abnormal, 0.0), axis=1)
    return Abnormal(rel=rel, ok=ok, expected=expected, abnormal=abnormal, ar_var=ar_var,
                    path=path, path_var=path_var, h=h)


def _quad(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """x' V x for every row of every pair (0 for a model without regressors)."""
    if X.shape[2] == 0:
        return np.zeros(X.shape[:2])
    return np.einsum("plj,pjk,plk->pl", X, V, X)


def garch_filter(g: dict, abnormal: np.ndarray, span: np.ndarray,
                 exists: np.ndarray) -> np.ndarray:
    """h_t = omega + alpha e_{t-1}^2 + beta h_{t-1} from the end of the estimation window
    through the window rows (a missing AR contributes the unconditional level), times span.
    The recursion runs over days with vectors of pairs: it is sequential in time only."""
    omega, alpha, beta = g["omega"], g["alpha"], g["beta"]
    unconditional = omega / np.maximum(1.0 - alpha - beta, 1e-6)
    e2 = np.where(np.isfinite(abnormal), abnormal ** 2, unconditional[:, None])
    h = np.full(abnormal.shape, np.nan)
    h_prev, e2_prev = g["last_h"].copy(), g["last_e2"].copy()
    for j in range(abnormal.shape[1]):
        here = exists[:, j]
        hj = (omega + alpha * e2_prev) + beta * h_prev
        h[:, j] = np.where(here, hj, np.nan)
        h_prev = np.where(here, hj, h_prev)
        e2_prev = np.where(here, e2[:, j], e2_prev)
    return h * span


@dataclass
class WindowCars:
    """One event window's CAR for every pair of a block (NaN where not defined)."""
    car: np.ndarray
    var: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    bhar: np.ndarray
    n_days: np.ndarray
    n_gaps: np.ndarray
    waiting: np.ndarray


def window_car(fits: Fits, ab: Abnormal, window: tuple[int, int], ret, X, span, gap, exists,
               last_rel: np.ndarray, kind: str = "log") -> WindowCars:
    w0, w1 = window
    inw = (ab.rel >= w0) & (ab.rel <= w1)
    used = ab.ok & inw[None, :]
    waiting = w1 > last_rel
    defined = used.any(axis=1) & ~waiting
    n_days = used.sum(axis=1)
    n_gaps = (gap & exists & inw[None, :]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        car = np.where(used, ab.abnormal, 0.0).sum(axis=1)
        if ab.h is not None:
            var = np.where(used, ab.h, 0.0).sum(axis=1)
        else:
            s = np.where(used[..., None], X, 0.0).sum(axis=1)
            extra = (np.einsum("pj,pjk,pk->p", s, fits.V, s) if s.shape[1]
                     else np.zeros(len(s)))
            var = fits.sigma2 * (np.where(used, span, 0.0).sum(axis=1) + extra)
        se = np.sqrt(var)
        t = car / se
        p = 2 * special.stdtr(fits.dof, -np.abs(t))
        r = np.where(used, ret, 0.0).sum(axis=1)
        e = np.where(used, ab.expected, 0.0).sum(axis=1)
        bhar = np.expm1(r) - np.expm1(e) if kind == "log" else _compound_diff(used, ret,
                                                                           ab.expected)
    nan = np.where(defined, 1.0, np.nan)
    return WindowCars(car=car * nan, var=se ** 2 * nan, se=se * nan, t=t * nan, p=p * nan,
                      bhar=bhar * nan, n_days=n_days, n_gaps=n_gaps, waiting=waiting)


def _compound_diff(used, ret, expected):
    return (np.prod(np.where(used, 1 + ret, 1.0), axis=1)
            - np.prod(np.where(used, 1 + expected, 1.0), axis=1))
