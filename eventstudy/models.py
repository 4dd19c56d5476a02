"""Normal-return models, fitted on the estimation window with statsmodels OLS.

Every linear model is y - offset = X b + e. The first column of X is the return's `span`
(the number of sessions it covers; 1 for nearly every row), so the constant is a per-session
drift and a return across a gap expects `span` sessions of it. The prediction-error variance
of an abnormal return is sigma^2 (span + x' (X'X)^-1 x) (MacKinlay 1997, eq. 9), and that of a
CAR over rows W is sigma^2 (sum span + 1'X_W (X'X)^-1 X_W'1): the estimation error of the model
is never dropped.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


class ModelError(Exception):
    """The model cannot be fitted on this estimation window (the pair is skipped, with this reason)."""


@dataclass(frozen=True)
class ModelFit:
    model: str
    params: pd.Series          # coefficient per regressor name
    sigma2: float              # residual variance, SSR / dof
    dof: int                   # residual degrees of freedom, T - k
    n_est: int                 # T, estimation observations used
    xtx_inv: np.ndarray        # (X'X)^-1, k x k
    residuals: pd.Series       # estimation residuals, indexed like the estimation rows

    # Array forms (the study's hot path): X is the design of the rows, span their spans.
    def expected_x(self, X: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return offset + X @ self.params.to_numpy()

    def ar_variance_x(self, X: np.ndarray, span: np.ndarray) -> np.ndarray:
        """Prediction-error variance of each abnormal return: sigma^2 (span + x'(X'X)^-1 x)."""
        h = np.einsum("ij,jk,ik->i", X, self.xtx_inv, X) if X.shape[1] else 0.0
        return self.sigma2 * (span + h)

    def car_path_variance_x(self, X: np.ndarray, span: np.ndarray) -> np.ndarray:
        """Variance of the running CAR after each row (rows in time order)."""
        cum = np.cumsum(X, axis=0)
        h = np.einsum("ij,jk,ik->i", cum, self.xtx_inv, cum) if cum.shape[1] else 0.0
        return self.sigma2 * (np.cumsum(span) + h)

    def car_variance_x(self, X: np.ndarray, span: np.ndarray) -> float:
        """Prediction-error variance of the sum of these rows' abnormal returns."""
        s = X.sum(axis=0)
        extra = float(s @ self.xtx_inv @ s) if len(s) else 0.0
        return float(self.sigma2 * (span.sum() + extra))

    # Frame forms, for people and tests.
    def _arrays(self, frame: pd.DataFrame):
        X, offset = design(self.model, frame, self.params.index.tolist())
        return X.to_numpy(dtype=float), offset.to_numpy(dtype=float), \
            frame["span"].to_numpy(dtype=float)

    def expected(self, frame: pd.DataFrame) -> pd.Series:
        X, offset, _ = self._arrays(frame)
        return pd.Series(self.expected_x(X, offset), index=frame.index)

    def ar_variance(self, frame: pd.DataFrame) -> pd.Series:
        X, _, span = self._arrays(frame)
        return pd.Series(self.ar_variance_x(X, span), index=frame.index)

    def car_path_variance(self, frame: pd.DataFrame) -> np.ndarray:
        X, _, span = self._arrays(frame)
        return self.car_path_variance_x(X, span)

    def car_variance(self, frame: pd.DataFrame) -> float:
        X, _, span = self._arrays(frame)
        return self.car_variance_x(X, span)


def regressor_names(model: str, factors: tuple[str, ...] = (), dimson_lags: int = 1) -> list[str]:
    """The columns of X for a model; the study frame must carry them (see study.pair_frame)."""
    if model == "constant_mean":
        return ["span"]
    if model == "market_adjusted":
        return []
    if model == "market_model":
        return ["span", "rm"]
    if model == "factor_model":
        return ["span"] + [f"f_{f}" for f in factors]
    if model in ("garch", "scholes_williams"):  # the market model's regressors
        return ["span", "rm"]
    if model == "dimson":
        lags = [f"rm_lag{k}" for k in range(dimson_lags, 0, -1)]
        leads = [f"rm_lead{k}" for k in range(1, dimson_lags + 1)]
        return ["span"] + lags + ["rm"] + leads
    raise ModelError(f"unknown model {model!r}")


def design(model: str, frame: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """X and the offset subtracted from y (the benchmark return for market-adjusted)."""
    X = frame[names].astype("float64")
    offset = frame["rm"] if model == "market_adjusted" else pd.Series(0.0, index=frame.index)
    # (garch: the mean equation is an ordinary linear model, no offset)
    return X, offset


def fit(model: str, est: pd.DataFrame, names: list[str], *, ols=None) -> ModelFit:
    """OLS on the estimation rows (already cleaned: no gaps, span 1, regressors present).

    `ols(y, X) -> (params, (X'X)^-1, residuals, SSR / dof, dof)`: statsmodels' OLS by
    default; `pinv_ols` is the same arithmetic without importing statsmodels."""
    X, offset = design(model, est, names)
    y = est["ret"] - offset
    n, k = X.shape
    if n <= k + 1:
        raise ModelError(f"{n} estimation observations for {k} parameters")
    if not np.isfinite(y.to_numpy()).all() or not np.isfinite(X.to_numpy()).all():
        raise ModelError("missing values in the estimation window")
    if k:
        if np.linalg.matrix_rank(X.to_numpy()) < k:
            raise ModelError("the regressors are collinear in the estimation window "
                             "(e.g. a constant benchmark)")
        b, xtx_inv, e, sigma2, dof = (ols or statsmodels_ols)(y.to_numpy(dtype=float),
                                                              X.to_numpy(dtype=float))
        resid = pd.Series(e, index=est.index)
        sigma2, dof = float(sigma2), int(round(dof))
        xtx_inv = np.asarray(xtx_inv, dtype=float)
        params = pd.Series(b, index=names)
    else:
        resid = y  # market-adjusted: the abnormal return itself is the residual
        sigma2, dof = float(y.var(ddof=1)), n - 1
        xtx_inv = np.zeros((0, 0))
        params = pd.Series(dtype="float64")
    if not sigma2 > 1e-16:
        raise ModelError("constant returns in the estimation window (residual variance 0)")
    return ModelFit(model=model, params=params, sigma2=sigma2, dof=dof, n_est=n,
                    xtx_inv=xtx_inv, residuals=resid)


def statsmodels_ols(y: np.ndarray, X: np.ndarray):
    """statsmodels' OLS (arrays in: no pandas wrapping)."""
    from statsmodels.regression.linear_model import OLS   # ~0.5 s with scipy.stats: on use
    res = OLS(y, X).fit()
    return res.params, res.normalized_cov_params, res.resid, res.scale, res.df_resid


def pinv_ols(y: np.ndarray, X: np.ndarray):
    """statsmodels' `OLS(y, X).fit()` (method "pinv") operation for operation, so the numbers
    are the same to the bit (tests/test_models.py checks it), without importing statsmodels
    and with it scipy.stats (~0.5 s): the GARCH model's mean equation, where a last-bit
    difference could move arch's optimiser. X has full column rank (`fit` checks it)."""
    u, s, vt = np.linalg.svd(X.conjugate(), False)        # statsmodels.tools.pinv_extended
    cutoff = 1e-15 * np.maximum.reduce(s)
    s = s.copy()
    for i in range(len(s)):                               # k values: not a hot loop
        s[i] = 1.0 / s[i] if s[i] > cutoff else 0.0
    pinv = np.dot(np.transpose(vt), np.multiply(s[:, np.newaxis], np.transpose(u)))
    params = np.dot(pinv, y)
    resid = y - np.dot(X, params)
    dof = float(X.shape[0]) - X.shape[1]
    return params, np.dot(pinv, np.transpose(pinv)), resid, np.dot(resid, resid) / dof, dof


def fit_scholes_williams(est: pd.DataFrame) -> ModelFit:
    """Scholes & Williams (1977) beta for non-synchronous trading, as a market model.

    beta_SW = (b_-1 + b_0 + b_+1) / (1 + 2 rho), each b_k the OLS slope (statsmodels) of R_t on
    Rm_{t+k} and rho the first-order autocorrelation of Rm; alpha_SW = mean(R) - beta_SW
    mean(Rm). Residuals R - alpha - beta Rm, sigma^2 = SSR / (T - 2). The prediction-error
    variance uses the market model's (X'X)^-1 with X = [1, Rm]: an approximation, since the
    sampling variance of beta_SW is not that of an OLS slope (docs/methods.md).
    """
    rows = est.dropna(subset=["rm_lag1", "rm_lead1"])
    n = len(rows)
    if n <= 4:
        raise ModelError(f"{n} estimation observations with a lead and a lag of the benchmark")
    y = rows["ret"].to_numpy(dtype=float)
    rm = rows["rm"].to_numpy(dtype=float)
    from statsmodels.regression.linear_model import OLS
    slopes = []
    for column in ("rm_lag1", "rm", "rm_lead1"):
        x = rows[column].to_numpy(dtype=float)
        if not np.std(x) > 0:
            raise ModelError("the benchmark is constant in the estimation window")
        slopes.append(float(OLS(y, np.column_stack([np.ones(n), x])).fit().params[1]))
    rho = float(np.corrcoef(rows["rm_lag1"].to_numpy(dtype=float), rm)[0, 1])
    if not 1 + 2 * rho > 0:
        raise ModelError(f"benchmark autocorrelation {rho:.2f} makes 1 + 2 rho <= 0")
    beta = sum(slopes) / (1 + 2 * rho)
    alpha = float(y.mean() - beta * rm.mean())
    resid = pd.Series(y - alpha - beta * rm, index=rows.index)
    X = np.column_stack([rows["span"].to_numpy(dtype=float), rm])
    sigma2 = float(resid.pow(2).sum() / (n - 2))
    if not sigma2 > 1e-16:
        raise ModelError("constant returns in the estimation window (residual variance 0)")
    return ModelFit(model="scholes_williams", params=pd.Series([alpha, beta], index=["span", "rm"]),
                    sigma2=sigma2, dof=n - 2, n_est=n, xtx_inv=np.linalg.inv(X.T @ X),
                    residuals=resid)


@dataclass(frozen=True)
class GarchFit:
    """Mean equation by OLS, then GARCH(1,1) on its residuals (two-step; arch).

    The variance of an event-window AR is its one-step-ahead conditional variance h_t,
    filtered from the end of the estimation window through the event window with the
    estimated (omega, alpha, beta): a day after a large shock is judged against a raised
    variance, so a volatility spike such as April 2025 is not read as significance.
    Parameter uncertainty is not added to h_t (documented in docs/methods.md).
    """
    model: str
    mean: ModelFit
    omega: float
    alpha: float
    beta: float
    last_h: float            # conditional variance of the last estimation day
    last_e2: float           # its squared residual
    estimation_variance: np.ndarray   # h_t over the estimation window

    @property
    def params(self) -> pd.Series:
        return self.mean.params

    @property
    def sigma2(self) -> float:
        return self.mean.sigma2

    @property
    def dof(self) -> int:
        return self.mean.dof

    @property
    def n_est(self) -> int:
        return self.mean.n_est

    @property
    def residuals(self) -> pd.Series:
        return self.mean.residuals

    def expected_x(self, X: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return self.mean.expected_x(X, offset)

    def expected(self, frame: pd.DataFrame) -> pd.Series:
        return self.mean.expected(frame)

    def conditional_variance_x(self, e: np.ndarray, span: np.ndarray) -> np.ndarray:
        """h_t for consecutive event rows: h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}.

        `e` are the abnormal returns; a missing one contributes the unconditional level.
        """
        from scipy.signal import lfilter
        unconditional = self.omega / max(1.0 - self.alpha - self.beta, 1e-6)
        e2 = np.where(np.isfinite(e), e ** 2, unconditional)
        # inputs: omega + alpha * e2_{t-1}, with e2_{-1} the last estimation day's
        drive = self.omega + self.alpha * np.concatenate([[self.last_e2], e2[:-1]])
        h, _ = lfilter([1.0], [1.0, -self.beta], drive, zi=[self.beta * self.last_h])
        return h * span

    def conditional_variance(self, frame: pd.DataFrame) -> np.ndarray:
        e = (frame["ret"] - self.expected(frame)).to_numpy(dtype=float)
        return self.conditional_variance_x(e, frame["span"].to_numpy(dtype=float))


_LOG_2PI = np.log(2 * np.pi)
_DBL_MAX = np.finfo(float).max


def _garch_recursion(params, f: list, backcast: float, lo: list, hi: list) -> np.ndarray:
    """arch's `garch_recursion` for p = 1, o = 0, q = 1 (recursions.pyx), step for step:
    s_t = omega + alpha f_{t-1} + beta s_{t-1} (backcast before the first day), kept within
    [lo_t, hi_t] (above hi_t: hi_t + log(s_t / hi_t)). A sequential loop over the days of one
    series (~50 us for 250 days)."""
    omega, alpha, beta = float(params[0]), float(params[1]), float(params[2])
    out = []
    f_prev = s_prev = backcast
    for f_t, lo_t, hi_t in zip(f, lo, hi):
        s = omega + alpha * f_prev
        s = s + beta * s_prev
        if s < lo_t:
            s = lo_t
        elif s > hi_t:
            s = hi_t + 1000 if s > _DBL_MAX else hi_t + math.log(s / hi_t)
        out.append(s)
        f_prev, s_prev = f_t, s
    return np.array(out)


def _normal_nll(y: np.ndarray, sigma2: np.ndarray) -> float:
    """Minus arch's Normal.loglikelihood of one series."""
    return -float(np.sum(-0.5 * (_LOG_2PI + np.log(sigma2) + y ** 2.0 / sigma2)))


def _garch_nll(params, y, f, backcast, lo, hi) -> float:
    return _normal_nll(y, _garch_recursion(params, f, backcast, lo, hi))


def garch11_qmle(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(omega, alpha, beta), the conditional volatilities and SLSQP's exit status of
    `arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")`.

    Why not arch itself: importing arch imports statsmodels and scipy.stats (~0.5 s, a third
    of a rerun with one new event). This is arch 7-8's estimator step for step (backcast,
    variance bounds, the starting-value grid, SLSQP with arch's bounds and constraints), so the
    numbers are arch's to the bit: tests/test_models.py compares them with arch's on real and
    simulated series (arch stays a test dependency and the oracle)."""
    from scipy.optimize import minimize     # ~0.15 s; scipy.stats and statsmodels are not needed
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    f = (np.absolute(y) ** 2.0).tolist()
    tau = min(75, n)
    w = 0.94 ** np.arange(tau)
    w = w / sum(w)                                          # (sic: Python's sum, as arch)
    backcast = float(np.sum((np.absolute(y[:tau]) ** 2.0) * w))   # GARCH.backcast
    # VolatilityProcess.variance_bounds: loose multiples of an EWMA of y^2
    ewma = _garch_recursion((0.0, 1.0 - 0.94, 0.94), (y ** 2.0).tolist(),
                            float(w.dot(y[:tau] ** 2.0)), [-1.0] * n, [1.7e308] * n)
    bounds = np.vstack((ewma / 1e6, ewma * 1e6)).T
    lower, upper = float(np.var(y)) / 1e8, 1e7 * (1 + float(np.max(y ** 2.0)))
    min_upper = 1 + float(np.max(y ** 2.0))
    bounds[bounds[:, 0] < lower, 0] = lower
    bounds[bounds[:, 1] < min_upper, 1] = min_upper
    bounds[bounds[:, 1] > upper, 1] = upper
    lo, hi = bounds[:, 0].tolist(), bounds[:, 1].tolist()
    # GARCH.starting_values: the grid point of highest Gaussian likelihood. arch's grid is
    # alpha x gamma x (alpha + beta) = 64 points, but without an asymmetric term its gamma
    # axis only repeats the 16 (alpha, alpha + beta) points; argmax over those 16, in the same
    # order, picks the same point (a tie breaks to the first in both).
    target = np.mean(np.absolute(y) ** 2.0)
    target *= (np.mean(y ** 2) / (target ** 1.0)) ** 1.0
    starts = [np.array([(1.0 - agb) * target, a, agb - a]) for a in (0.01, 0.05, 0.1, 0.2)
              for agb in (0.5, 0.7, 0.9, 0.98)]
    llfs = np.array([-_garch_nll(sv, y, f, backcast, lo, hi) for sv in starts])
    start = starts[int(np.argmax(llfs))]
    v = float(np.mean(np.absolute(y) ** 2.0))                 # GARCH.bounds
    box = [(1e-8 * v, 10.0 * v), (0.0, 1.0), (0.0, 1.0)]
    # GARCH.constraints: omega, alpha, beta >= 0 and 1 - alpha - beta >= 0, one function each
    rows = (((1.0, 0.0, 0.0), 0.0), ((0.0, 1.0, 0.0), 0.0), ((0.0, 0.0, 1.0), 0.0),
            ((0.0, -1.0, -1.0), -1.0))
    constraints = [{"type": "ineq", "fun": lambda p, *_, a=np.array(a), b=b: np.dot(a, p) - b}
                   for a, b in rows]
    opt = minimize(_garch_nll, start, args=(y, f, backcast, lo, hi), method="SLSQP",
                   bounds=box, constraints=constraints, tol=None, options={"disp": False})
    return opt.x, np.sqrt(_garch_recursion(opt.x, f, backcast, lo, hi)), int(opt.status)


def garch11(resid: np.ndarray, where: str = "the estimation window"):
    """(omega, alpha, beta, h_t) of a zero-mean GARCH(1,1) fitted to `resid` (in percent, for
    the optimiser; returned in the residuals' units) by arch's estimator (`garch11_qmle`).
    ModelError when the optimiser stopped early or the fit is not stationary: those estimates
    are never used."""
    scale = 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, vol, status = garch11_qmle(resid * scale)
    if status != 0:    # scipy's SLSQP exit code: the estimates are not a maximum
        raise ModelError(f"GARCH(1,1): the optimiser did not converge on {where} "
                         f"(SLSQP exit {status})")
    omega = float(params[0]) / scale ** 2
    alpha, beta = float(params[1]), float(params[2])
    if not (np.isfinite([omega, alpha, beta]).all() and omega > 0 and alpha + beta < 1):
        raise ModelError(f"GARCH(1,1) did not converge to a stationary fit on {where}")
    return omega, alpha, beta, (np.asarray(vol, dtype=float) / scale) ** 2


def fit_garch(est: pd.DataFrame, names: list[str]) -> GarchFit:
    """GARCH(1,1)-scaled model: OLS mean (`names`), then GARCH(1,1) on the residuals
    (`garch11`). Neither imports statsmodels nor arch (their numbers, to the bit)."""
    mean = fit("garch", est, names, ols=pinv_ols)
    resid = mean.residuals.to_numpy(dtype=float)
    omega, alpha, beta, h = garch11(resid)
    return GarchFit(model="garch", mean=mean, omega=omega, alpha=alpha, beta=beta,
                    last_h=float(h[-1]), last_e2=float(resid[-1] ** 2),
                    estimation_variance=h)
