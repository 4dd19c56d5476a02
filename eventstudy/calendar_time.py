"""Calendar-time portfolios (Jaffe 1974; Mandelker 1974; Fama 1998; Mitchell & Stafford 2000).

For each calendar day (or month), the portfolio of the securities that are inside the event
window [a, b] of one of their events (event time counted in each security's own sessions from
its day 0), equally weighted or weighted by a metadata column; its return is regressed on the
benchmark (or factors), and the intercept is the average abnormal return per period with a
Newey-West (HAC) standard error. Unlike averaging CARs in event time, the portfolio's
returns on different days are one time series, so the cross-correlation of securities that
share a calendar date is inside the portfolio's variance, and the serial correlation is the
HAC's job.

    >>> calendar_time(result, window=(0, 5))             # daily, equal weights, market model
    >>> portfolio_returns(result, window=(0, 5))         # the portfolio itself, one row a day

Conventions (docs/second-stage.md): returns are simple (a study's log returns are turned
into simple ones before averaging); a security in two overlapping windows is held once that
day; a session a security has no bar (a gap) leaves it out of that day's portfolio; a month's
return of a security is its compounded return over its days in the portfolio that month.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy.errors import InputError, suggest

METHODS = ("market_model", "excess", "factors")
BENCHMARKS = ("index", "universe")
FREQS = ("D", "M")
COLUMNS = ["term", "estimate", "se", "t", "p", "n_periods", "n_pairs", "n_securities",
           "mean_n", "hac_lags", "method", "benchmark", "freq", "weights", "window_start",
           "window_end", "r2", "df"]


def calendar_time(result, window=(0, 5), *, method: str = "market_model",
                  benchmark: str = "index", freq: str = "D", weights: str | None = None,
                  hac_lags: int | None = None, groups=None) -> pd.DataFrame:
    """The calendar-time regression: one row per coefficient (the intercept first).

    method: "market_model" regresses the portfolio's return on its benchmark's (intercept
    and beta); "excess" tests the mean of the portfolio's return minus its benchmark's
    (intercept only); "factors" regresses on the benchmark and the study's factors.
    benchmark: "index" is each member's configured benchmark (as of its own close);
    "universe" the equally weighted return of all securities of its calendar that day.
    hac_lags: Newey-West lags; default floor(4 (T/100)^(2/9)) for T non-empty periods.
    groups: only the pairs of these groups (as in `regress`).
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, not {method!r}"
                         f"{suggest(method, METHODS)}", field="method")
    port = portfolio_returns(result, window, benchmark=benchmark, freq=freq, weights=weights,
                             groups=groups)
    fit, names, lags = fit_portfolio(port, method, hac_lags)
    n_pairs = port.attrs.get("n_pairs", 0)
    return pd.DataFrame({
        "term": names, "estimate": fit.params, "se": fit.bse, "t": fit.tvalues,
        "p": fit.pvalues, "n_periods": len(port), "n_pairs": n_pairs,
        "n_securities": port.attrs.get("n_securities", 0), "mean_n": float(port["n"].mean()),
        "hac_lags": lags, "method": method, "benchmark": benchmark, "freq": freq,
        "weights": weights or "equal", "window_start": window[0], "window_end": window[1],
        "r2": float(fit.rsquared) if len(names) > 1 else np.nan,
        "df": float(fit.df_resid)})[COLUMNS]


def fit_portfolio(port: pd.DataFrame, method: str = "market_model", hac_lags: int | None = None):
    """OLS of the portfolio's return (minus its benchmark's, for "excess") on a constant and
    the benchmark (and factors), Newey-West (Bartlett) covariance with `hac_lags` lags, t
    distribution with T - k degrees of freedom. Returns (statsmodels results, names, lags)."""
    import statsmodels.api as sm

    from eventstudy.hypotheses import default_hac_lags
    if method == "excess":
        y, x = port["ret"] - port["bench"], pd.DataFrame(index=port.index)
    else:
        x = port[["bench"]].rename(columns={"bench": "benchmark"})
        if method == "factors":
            factors = [c for c in port if c.startswith("f_")]
            if not factors:
                raise InputError("the study has no factors (study.factors): use method "
                                 "market_model or excess", field="method")
            x = pd.concat([x, port[factors]], axis=1)
        y = port["ret"]
    x.insert(0, "alpha", 1.0)
    T = len(port)
    if T <= x.shape[1] + 1:
        raise InputError(f"{T} non-empty portfolio periods: too few for a regression with "
                         f"{x.shape[1]} coefficients")
    lags = default_hac_lags(T) if hac_lags is None else int(hac_lags)
    fit = sm.OLS(y.to_numpy(float), x.to_numpy(float)).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    return fit, list(x.columns), lags


def portfolio_returns(result, window=(0, 5), *, benchmark: str = "index", freq: str = "D",
                      weights: str | None = None, groups=None) -> pd.DataFrame:
    """One row per calendar day (or month) with a non-empty portfolio: date (the period's
    first day for months), n (securities held), ret (portfolio return), bench (its
    benchmark: the same weights on each member's benchmark return) and f_<id> factors."""
    a, b = _window(window)
    if benchmark not in BENCHMARKS:
        raise InputError(f"benchmark must be one of {', '.join(BENCHMARKS)}, not "
                         f"{benchmark!r}{suggest(benchmark, BENCHMARKS)}", field="benchmark")
    if freq not in FREQS:
        raise InputError(f"freq must be D (days) or M (months), not {freq!r}", field="freq")
    log = getattr(result.config, "returns", "log") == "log"
    long = long_returns(result)
    pairs = result.alignment[["event_id", "series", "day0"]].dropna()
    if groups:
        from eventstudy.regress import _group_pairs
        pairs = pairs.merge(_group_pairs(result, groups, {}), on=["event_id", "series"])
    w = None
    if weights is not None:
        meta = result.securities
        if meta is None or weights not in meta:
            have = [] if meta is None else [c for c in meta if c not in ("series",)]
            raise InputError(f"no security column {weights!r}{suggest(weights, have)} to "
                             f"weight by (columns: {', '.join(have)})", field="weights")
        w = pd.to_numeric(meta.set_index("series")[weights], errors="coerce")
    return portfolio_from_long(long, pairs, (a, b), log=log, benchmark=benchmark, freq=freq,
                               weights=w)


def portfolio_from_long(long: pd.DataFrame, pairs: pd.DataFrame, window, *, log: bool = True,
                        benchmark: str = "index", freq: str = "D",
                        weights: pd.Series | None = None) -> pd.DataFrame:
    """The calendar-time portfolio from plain frames (what `portfolio_returns` feeds it).

    long: one row per (series, session): series, pos (the session's position in its
    calendar), date, ret, rm (benchmark), f_* (factors), panel (calendar key: the
    `universe` benchmark averages within it). pairs: event_id, series, day0 (session date).
    weights: per series (index), e.g. market values; None: equal weights.

    Vectorised: every (series, session) is one int64 key (series code << 32 | position), so
    pairs x event days find their rows by one searchsorted, and days are summed by bincount.
    """
    a, b = window
    keyed = long if isinstance(long, Keyed) else prepare(long)
    long, kp, kd, names = keyed.frame, keyed.kp, keyed.kd, keyed.names
    code = pd.Categorical(pairs["series"], categories=names).codes
    day0 = pd.to_datetime(pairs["day0"]).to_numpy("datetime64[D]").astype(np.int64)
    want = (code.astype(np.int64) << 32) | day0
    at = np.minimum(np.searchsorted(kd, want), len(kd) - 1)
    ok = (code >= 0) & (kd[at] == want)
    n_pairs = int(ok.sum())
    pos = long["pos"].to_numpy(np.int64)
    offsets = np.arange(a, b + 1)
    held = np.unique(((code[ok].astype(np.int64) << 32)[:, None]
                      | (pos[at[ok]][:, None] + offsets[None, :])).ravel())   # held once
    rows = np.minimum(np.searchsorted(kp, held), len(kp) - 1)
    rows = rows[kp[rows] == held]
    cols = [c for c in long.columns if c == "rm" or c.startswith("f_")]
    values = {c: long[c].to_numpy(float)[rows] for c in ["ret"] + cols}
    if log:
        values = {c: np.expm1(v) for c, v in values.items()}
    if benchmark == "universe":    # equally weighted mean of the calendar's securities
        values["bench"] = keyed.equal_weighted(log)[rows]
    else:
        values["bench"] = values["rm"] if "rm" in values else np.full(len(rows), np.nan)
    frame = pd.DataFrame({"series": keyed.codes[rows],
                          "date": long["date"].to_numpy()[rows], **values})
    frame = frame[np.isfinite(frame["ret"].to_numpy()) & np.isfinite(frame["bench"].to_numpy())]
    value_cols = ["ret", "bench"] + [c for c in cols if c.startswith("f_")]
    if freq == "M":      # a security's month: compounded over its days held that month
        month = frame["date"].dt.to_period("M")
        growth = np.log1p(frame[value_cols]).groupby([frame["series"], month]).sum()
        frame = np.expm1(growth).reset_index()
        frame["date"] = frame["date"].dt.to_timestamp()
    w = (np.ones(len(frame)) if weights is None
         else pd.Series(weights).reindex(names).to_numpy(float)[frame["series"].to_numpy()])
    frame = frame[np.isfinite(w) & (w > 0)]
    w = w[np.isfinite(w) & (w > 0)]
    dates, inv = np.unique(frame["date"].to_numpy(), return_inverse=True)
    wsum = np.bincount(inv, weights=w, minlength=len(dates))
    out = pd.DataFrame({"date": dates, "n": np.bincount(inv, minlength=len(dates))})
    for c in value_cols:
        out[c] = np.bincount(inv, weights=w * frame[c].to_numpy(float),
                             minlength=len(dates)) / wsum
    out.attrs["n_pairs"] = n_pairs
    out.attrs["n_securities"] = int(frame["series"].nunique())
    return out


@dataclass(frozen=True)
class Keyed:
    """A long returns frame sorted by (series, pos), with its series codes and two sorted
    keys: code << 32 | pos, and code << 32 | day number (pos and date rise together).
    Build it once (`prepare`) to draw many portfolios from the same returns."""
    frame: pd.DataFrame
    codes: np.ndarray
    names: pd.Index
    kp: np.ndarray
    kd: np.ndarray
    cache: dict = field(default_factory=dict)

    def equal_weighted(self, log: bool) -> np.ndarray:
        """Per row: the mean simple return of its calendar's securities that session."""
        if log not in self.cache:
            ret = self.frame["ret"].to_numpy(float)
            ret = np.expm1(ret) if log else ret
            groups = [self.frame["panel"].to_numpy(), self.frame["pos"].to_numpy()]
            self.cache[log] = pd.Series(ret).groupby(groups).transform("mean").to_numpy()
        return self.cache[log]


def prepare(long: pd.DataFrame) -> Keyed:
    if not isinstance(long["series"].dtype, pd.CategoricalDtype):
        long = long.assign(series=pd.Categorical(long["series"]))
    code = long["series"].cat.codes.to_numpy().astype(np.int64)
    kp = (code << 32) | long["pos"].to_numpy(np.int64)
    if len(kp) > 1 and not (np.diff(kp) > 0).all():
        order = np.argsort(kp, kind="stable")
        long, code, kp = long.iloc[order].reset_index(drop=True), code[order], kp[order]
    days = pd.to_datetime(long["date"]).to_numpy("datetime64[D]").astype(np.int64)
    return Keyed(long, code, long["series"].cat.categories, kp, (code << 32) | days)


def long_returns(result) -> pd.DataFrame:
    """Every security's sessions as one long frame (series, pos, date, ret, rm, f_*, panel),
    from the study's panels (one array per calendar, no loop over securities) when the result
    has them, else from its per-series frames."""
    frames = result.returns
    panels = getattr(frames, "_panels", None)
    where = getattr(frames, "_where", None)
    if panels is None or where is None:
        parts = [f.assign(series=sid, panel=0) for sid, f in frames.items()]
        keep = ["series", "pos", "date", "ret", "panel"]
        out = pd.concat([p[keep + [c for c in p if c == "rm" or c.startswith("f_")]]
                         for p in parts], ignore_index=True)
        return out.assign(series=pd.Categorical(out["series"]))
    studied = set(result.alignment["series"])
    parts = []
    for k, (key, panel) in enumerate(panels.items()):
        cols = [i for i, s in enumerate(panel.securities) if s in studied]
        if not cols:
            continue
        ex = panel.exists[:, cols]
        r, c = np.nonzero(ex)
        sec = np.asarray(panel.securities, object)[cols]
        part = {"series": sec[c], "pos": panel.offset + r, "date": panel.dates[r],
                "ret": panel.ret[:, cols][r, c], "panel": k}
        for name, values in panel.regressors.items():
            if name == "rm" or name.startswith("f_"):
                has = panel.has[name][cols]
                v = values[:, cols][r, c]
                part[name] = np.where(has[c], v, np.nan)
        parts.append(pd.DataFrame(part))
    out = pd.concat(parts, ignore_index=True)
    return out.assign(series=pd.Categorical(out["series"]))


def _window(window) -> tuple[int, int]:
    try:
        a, b = (int(w) for w in window)
    except (TypeError, ValueError):
        raise InputError(f"{window!r} is not a window (start, end) of trading days",
                         field="window") from None
    if a > b:
        raise InputError(f"window {list(window)} starts after it ends", field="window")
    return a, b
