"""Normal-return models, fitted on the estimation window with statsmodels OLS.

Every linear model is y - offset = X b + e. The first column of X is the return's `span`
(the number of sessions it covers; 1 for nearly every row), so the constant is a per-session
drift and a return across a gap expects `span` sessions of it. The prediction-error variance
of an abnormal return is sigma^2 (span + x' (X'X)^-1 x) (MacKinlay 1997, eq. 9), and that of a
CAR over rows W is sigma^2 (sum span + 1'X_W (X'X)^-1 X_W'1): the estimation error of the model
is never dropped.
"""
from __future__ import annotations

import os
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


def fit(model: str, est: pd.DataFrame, names: list[str]) -> ModelFit:
    """OLS on the estimation rows (already cleaned: no gaps, span 1, regressors present)."""
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
        from statsmodels.regression.linear_model import OLS   # ~0.5 s: on use
        res = OLS(y.to_numpy(dtype=float), X.to_numpy(dtype=float)).fit()  # arrays: no wrapping
        resid = pd.Series(res.resid, index=est.index)
        sigma2, dof = float(res.scale), int(round(res.df_resid))
        xtx_inv = np.asarray(res.normalized_cov_params, dtype=float)
        params = pd.Series(res.params, index=names)
    else:
        resid = y  # market-adjusted: the abnormal return itself is the residual
        sigma2, dof = float(y.var(ddof=1)), n - 1
        xtx_inv = np.zeros((0, 0))
        params = pd.Series(dtype="float64")
    if not sigma2 > 1e-16:
        raise ModelError("constant returns in the estimation window (residual variance 0)")
    return ModelFit(model=model, params=params, sigma2=sigma2, dof=dof, n_est=n,
                    xtx_inv=xtx_inv, residuals=resid)


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


def arch_model(*args, **kwargs):
    """arch's `arch_model`, imported on first use without numba: arch's GARCH recursions are
    its compiled Cython ones either way, and numba (installed with our `fast` extra) would only
    add ~0.4 s to the import. A user's own ARCH_DISABLE_NUMBA setting is kept."""
    os.environ.setdefault("ARCH_DISABLE_NUMBA", "1")
    from arch import arch_model as make
    return make(*args, **kwargs)


def garch11(resid: np.ndarray, where: str = "the estimation window"):
    """(omega, alpha, beta, h_t) of a zero-mean GARCH(1,1) fitted by arch to `resid` (in
    percent, for the optimiser; returned in the residuals' units). ModelError when arch's
    optimiser stopped early or the fit is not stationary: those estimates are never used."""
    scale = 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(resid * scale, mean="Zero", vol="GARCH", p=1, q=1,
                         rescale=False).fit(disp="off")
    if res.convergence_flag != 0:    # scipy's SLSQP exit code: the estimates are not a maximum
        raise ModelError(f"GARCH(1,1): the optimiser did not converge on {where} "
                         f"(SLSQP exit {res.convergence_flag})")
    omega = float(res.params["omega"]) / scale ** 2
    alpha, beta = float(res.params["alpha[1]"]), float(res.params["beta[1]"])
    if not (np.isfinite([omega, alpha, beta]).all() and omega > 0 and alpha + beta < 1):
        raise ModelError(f"GARCH(1,1) did not converge to a stationary fit on {where}")
    return omega, alpha, beta, (np.asarray(res.conditional_volatility, dtype=float) / scale) ** 2


def fit_garch(est: pd.DataFrame, names: list[str]) -> GarchFit:
    """GARCH(1,1)-scaled model: OLS mean (`names`), then arch on the residuals (`garch11`)."""
    mean = fit("garch", est, names)
    resid = mean.residuals.to_numpy(dtype=float)
    omega, alpha, beta, h = garch11(resid)
    return GarchFit(model="garch", mean=mean, omega=omega, alpha=alpha, beta=beta,
                    last_h=float(h[-1]), last_e2=float(resid[-1] ** 2),
                    estimation_variance=h)
