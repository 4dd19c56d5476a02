"""Normal-return models, fitted on the estimation window with statsmodels OLS.

Every linear model is y - offset = X b + e. The first column of X is the return's `span`
(the number of sessions it covers; 1 for nearly every row), so the constant is a per-session
drift and a return across a gap expects `span` sessions of it. The prediction-error variance
of an abnormal return is sigma^2 (span + x' (X'X)^-1 x) (MacKinlay 1997, eq. 9), and that of a
CAR over rows W is sigma^2 (sum span + 1'X_W (X'X)^-1 X_W'1): the estimation error of the model
is never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm


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

    def expected(self, frame: pd.DataFrame) -> pd.Series:
        X, offset = design(self.model, frame, self.params.index.tolist())
        return offset + X.to_numpy() @ self.params.to_numpy()

    def ar_variance(self, frame: pd.DataFrame) -> pd.Series:
        """Prediction-error variance of each abnormal return (the diagonal)."""
        X, _ = design(self.model, frame, self.params.index.tolist())
        x = X.to_numpy()
        h = np.einsum("ij,jk,ik->i", x, self.xtx_inv, x) if x.shape[1] else 0.0
        return pd.Series(self.sigma2 * (frame["span"].to_numpy() + h), index=frame.index)

    def car_path_variance(self, frame: pd.DataFrame) -> np.ndarray:
        """Variance of the running CAR after each row (rows in time order, all usable)."""
        X, _ = design(self.model, frame, self.params.index.tolist())
        cum = np.cumsum(X.to_numpy(), axis=0)
        h = np.einsum("ij,jk,ik->i", cum, self.xtx_inv, cum) if cum.shape[1] else 0.0
        return self.sigma2 * (np.cumsum(frame["span"].to_numpy()) + h)

    def car_variance(self, frame: pd.DataFrame) -> float:
        """Prediction-error variance of the sum of the abnormal returns of these rows."""
        X, _ = design(self.model, frame, self.params.index.tolist())
        s = X.to_numpy().sum(axis=0)
        extra = float(s @ self.xtx_inv @ s) if len(s) else 0.0
        return float(self.sigma2 * (frame["span"].sum() + extra))


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
    if model == "dimson":
        lags = [f"rm_lag{k}" for k in range(dimson_lags, 0, -1)]
        leads = [f"rm_lead{k}" for k in range(1, dimson_lags + 1)]
        return ["span"] + lags + ["rm"] + leads
    raise ModelError(f"unknown model {model!r}")


def design(model: str, frame: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """X and the offset subtracted from y (the benchmark return for market-adjusted)."""
    X = frame[names].astype("float64")
    offset = frame["rm"] if model == "market_adjusted" else pd.Series(0.0, index=frame.index)
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
        res = sm.OLS(y, X).fit()
        resid = res.resid
        sigma2, dof = float(res.scale), int(round(res.df_resid))
        xtx_inv = np.asarray(res.normalized_cov_params, dtype=float)
        params = res.params
    else:
        resid = y  # market-adjusted: the abnormal return itself is the residual
        sigma2, dof = float(y.var(ddof=1)), n - 1
        xtx_inv = np.zeros((0, 0))
        params = pd.Series(dtype="float64")
    if not sigma2 > 1e-16:
        raise ModelError("constant returns in the estimation window (residual variance 0)")
    return ModelFit(model=model, params=params, sigma2=sigma2, dof=dof, n_est=n,
                    xtx_inv=xtx_inv, residuals=resid)
