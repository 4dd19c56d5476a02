"""Test statistics for event studies: pure, vectorised functions of tidy frames.

Inputs (built by the model layer; a *pair* is one ``(event_id, series)``):

``panel``
    one row per (pair, day): ``event_id, series, phase ("estimation" | "event"), rel_day, date,
    abnormal_return, ar_var, sigma2, dof, n_est``. ``ar_var`` is sigma2_i on estimation rows and the
    prediction-error variance of that AR on event rows.
``cars``
    one row per (pair, window): ``event_id, series, window_start, window_end, car, car_var, dof,
    n_est, n_days``; ``car_var`` is the full prediction-error variance of the CAR.

Every test returns a tidy frame with columns :data:`OUTPUT_COLUMNS`; p-values are two-sided and
``dof`` is NaN where the reference distribution is normal. When a group is too small for a test the
row is still there, with NaN ``statistic``/``p_value`` (never an exception), so that every table has
the same shape. Formulas, conventions and citations: ``docs/methods-tests.md``.

Entry points: :func:`group_tests` (all group-level tests for a list of windows) and
:func:`pair_bootstrap` (the empirical p-value of one pair's CARs). :func:`residual_correlation`
exposes the calendar-aligned residual correlations behind the Kolari-Pynnonen adjustment.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "ALL_GROUP_TESTS",
    "OUTPUT_COLUMNS",
    "KP_MIN_OVERLAP",
    "group_tests",
    "pair_bootstrap",
    "residual_correlation",
]

ALL_GROUP_TESTS: tuple[str, ...] = (
    "cross_sectional_t",
    "bw_cda",
    "patell",
    "bmp",
    "kp_patell",
    "kp_bmp",
    "corrado_rank",
    "cz_rank",
    "grank",
    "sign",
    "generalized_sign",
    "wilcoxon",
    "skew_t",
    "bootstrap",
)

OUTPUT_COLUMNS: list[str] = [
    "window_start", "window_end", "test", "estimate", "statistic", "dof", "p_value", "n",
]

#: minimum number of common calendar dates for a pairwise residual correlation (Kolari-Pynnonen)
KP_MIN_OVERLAP = 30

_PANEL_COLUMNS = ("event_id", "series", "phase", "rel_day", "date", "abnormal_return", "ar_var")
_CARS_COLUMNS = ("event_id", "series", "window_start", "window_end", "car", "car_var", "dof",
                 "n_days")
_KP_MODES = ("overlap", "estimation")

_NAN = float("nan")
_NO_DATE = np.iinfo(np.int64).min      # day number standing for a missing date
#: relative tolerance for "at least as extreme" in resampling p-values and for a zero spread
_REL_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# input preparation
# --------------------------------------------------------------------------------------------

def _check_columns(frame: pd.DataFrame, needed: Iterable[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s): {', '.join(missing)}")


def _str_column(frame: pd.DataFrame, name: str) -> pd.Series:
    col = frame[name]
    return col if pd.api.types.is_string_dtype(col.dtype) and col.notna().all() else col.astype(str)


def _pair_strings(frame: pd.DataFrame) -> np.ndarray:
    """One string per row naming its pair (for set logic and look-ups, never shown)."""
    ev = _str_column(frame, "event_id").to_numpy(dtype=object)
    se = _str_column(frame, "series").to_numpy(dtype=object)
    return ev + "\x1f" + se


def _pair_codes(frame: pd.DataFrame) -> tuple[np.ndarray, pd.MultiIndex]:
    """Integer pair code per row and the sorted (event_id, series) keys it indexes."""
    ev_codes, ev_uniq = pd.factorize(_str_column(frame, "event_id"), sort=True)
    se_codes, se_uniq = pd.factorize(_str_column(frame, "series"), sort=True)
    n_se = max(len(se_uniq), 1)
    uniq, codes = np.unique(ev_codes.astype(np.int64) * n_se + se_codes, return_inverse=True)
    keys = pd.MultiIndex(levels=[pd.Index(ev_uniq, dtype=object), pd.Index(se_uniq, dtype=object)],
                         codes=[uniq // n_se, uniq % n_se], names=["event_id", "series"],
                         verify_integrity=False)
    return codes.ravel(), keys


def _as_dates(values: pd.Series) -> np.ndarray:
    """Calendar dates as int64 day numbers (NaT -> a sentinel that never matches)."""
    d = pd.to_datetime(values)
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_localize(None)
    d = d.dt.normalize()
    out = d.to_numpy(dtype="datetime64[D]").astype("int64")
    out[d.isna().to_numpy()] = _NO_DATE
    return out


@dataclass
class _Group:
    """The panel pivoted to (rel_day x pair) matrices; pairs sorted by (event_id, series)."""

    keys: pd.MultiIndex
    days: np.ndarray        # (D,) sorted rel_days (union over pairs and phases)
    ar: np.ndarray          # (D, P) abnormal returns, NaN where missing or absent
    var: np.ndarray         # (D, P) ar_var
    is_est: np.ndarray      # (D, P) bool: row exists and phase == estimation
    is_evt: np.ndarray      # (D, P) bool: row exists and phase == event
    date: np.ndarray        # (D, P) int64 day numbers, sentinel where absent
    est_ar: np.ndarray      # (D, P) ar on estimation rows only
    evt_ar: np.ndarray      # (D, P) ar on event rows only
    dof: np.ndarray         # (P,) estimation residual dof (NaN if the panel has no dof column)


def _prepare_panel(panel: pd.DataFrame) -> _Group:
    _check_columns(panel, _PANEL_COLUMNS, "panel")
    col, keys = _pair_codes(panel)
    rel = panel["rel_day"].to_numpy().astype(np.int64)
    days = np.unique(rel)
    row = np.searchsorted(days, rel)
    if len(rel) and np.bincount(row * len(keys) + col).max() > 1:
        raise ValueError("panel has duplicate (event_id, series, rel_day) rows")
    est_row = (panel["phase"] == "estimation").to_numpy(dtype=bool)
    evt_row = (panel["phase"] == "event").to_numpy(dtype=bool)
    bad = ~(est_row | evt_row)
    if bad.any():
        first = panel["phase"].iloc[int(np.argmax(bad))]
        raise ValueError(f"panel.phase must be 'estimation' or 'event', got {first!r}")

    shape = (len(days), len(keys))
    ar = np.full(shape, np.nan)
    var = np.full(shape, np.nan)
    is_est = np.zeros(shape, bool)
    is_evt = np.zeros(shape, bool)
    date = np.full(shape, _NO_DATE, dtype=np.int64)
    ar[row, col] = panel["abnormal_return"].to_numpy(dtype=float)
    var[row, col] = panel["ar_var"].to_numpy(dtype=float)
    is_est[row, col] = est_row
    is_evt[row, col] = evt_row
    date[row, col] = _as_dates(panel["date"])
    est_ar = np.where(is_est, ar, np.nan)
    evt_ar = np.where(is_evt, ar, np.nan)
    dof = np.full(len(keys), np.nan)
    if "dof" in panel.columns:
        dof[col] = panel["dof"].to_numpy(dtype=float)
    return _Group(keys, days, ar, var, is_est, is_evt, date, est_ar, evt_ar, dof)


@dataclass
class _Window:
    start: int
    end: int
    car: np.ndarray         # (P,) NaN where the pair has no CAR for this window
    car_var: np.ndarray
    dof: np.ndarray
    n_days: np.ndarray

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _prepare_windows(cars: pd.DataFrame, group: _Group,
                     windows: Sequence[tuple[int, int]]) -> list[_Window]:
    _check_columns(cars, _CARS_COLUMNS, "cars")
    key_str = pd.Index(np.asarray(group.keys.get_level_values(0), dtype=object)
                       + "\x1f" + np.asarray(group.keys.get_level_values(1), dtype=object))
    col = key_str.get_indexer(_pair_strings(cars))
    if (col < 0).any():
        i = int(np.argmax(col < 0))
        first = (cars["event_id"].iloc[i], cars["series"].iloc[i])
        raise ValueError(f"cars has a pair that is not in panel: {first}")
    ws = cars["window_start"].to_numpy().astype(np.int64)
    we = cars["window_end"].to_numpy().astype(np.int64)
    P = len(group.keys)
    out = []
    for start, end in windows:
        start, end = int(start), int(end)
        if end < start:
            raise ValueError(f"window ({start}, {end}) ends before it starts")
        hit = (ws == start) & (we == end)
        w = _Window(start, end, *(np.full(P, np.nan) for _ in range(4)))
        if hit.any():
            c = col[hit]
            if len(np.unique(c)) != len(c):
                raise ValueError(f"cars has duplicate rows for a pair in window ({start}, {end})")
            sub = cars.loc[hit]
            w.car[c] = sub["car"].to_numpy(dtype=float)
            w.car_var[c] = sub["car_var"].to_numpy(dtype=float)
            w.dof[c] = sub["dof"].to_numpy(dtype=float)
            w.n_days[c] = sub["n_days"].to_numpy(dtype=float)
        elif start == end and (group.days == start).any():
            # a daily window can be read off the panel: CAR = AR, var = prediction-error var
            r = int(np.searchsorted(group.days, start))
            w.car[:] = group.evt_ar[r]
            w.car_var[:] = np.where(group.is_evt[r], group.var[r], np.nan)
            w.n_days[:] = np.isfinite(w.car).astype(float)
            w.dof[:] = group.dof
        # otherwise no pair has a CAR for this window: every test gives a NaN row with n = 0
        out.append(w)
    return out


# --------------------------------------------------------------------------------------------
# small numeric helpers
# --------------------------------------------------------------------------------------------

def _t_p(stat: float, dof: float) -> float:
    """Two-sided Student-t p-value (scipy.special.stdtr is the t cdf)."""
    if np.isnan(stat) or not np.isfinite(dof) or dof <= 0:
        return _NAN
    return float(2.0 * special.stdtr(dof, -abs(stat)))


def _z_p(stat: float) -> float:
    """Two-sided standard normal p-value."""
    if np.isnan(stat):
        return _NAN
    return float(special.erfc(abs(stat) / math.sqrt(2.0)))


def _row_means(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means over finite entries (NaN where none) and the counts, without warnings."""
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    s = np.where(ok, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return m, n


def _scaled_ranks(x: np.ndarray) -> np.ndarray:
    """Column-wise average ranks of finite entries, scaled by 1/(M_i + 1) and centred at 0.

    ``U_it - 1/2`` with ``U_it = rank_it / (1 + M_i)`` (Corrado & Zivney 1992); NaN stays NaN.
    """
    ranks = pd.DataFrame(x).rank(axis=0, method="average", na_option="keep").to_numpy()
    m = np.isfinite(x).sum(axis=0)
    return ranks / (m + 1.0) - 0.5


def _rank_statistic(u: np.ndarray, window_rows: np.ndarray) -> tuple[float, float, int]:
    """Corrado / Cowan rank statistic from centred scaled ranks ``u`` (days x pairs).

    ``Kbar_t`` = mean centred rank over the N_t pairs ranked on day t; ``S^2 = (1/T) sum_t N_t
    Kbar_t^2`` over the T days with N_t >= 1 (the per-pair rank variance, time-series estimate that
    absorbs cross-sectional dependence); statistic ``sum_{t in W} Kbar_t / (S sqrt(sum_{t in W}
    1/N_t))``. Returns (estimate = mean Kbar_t over the window days, statistic, T).
    """
    kbar, n_t = _row_means(u)
    used = n_t > 0
    T = int(used.sum())
    w = window_rows & used
    if T < 2 or not w.any():
        return _NAN, _NAN, T
    s2 = float(np.sum(n_t[used] * kbar[used] ** 2) / T)
    est = float(kbar[w].mean())
    if not s2 > 0:
        return est, _NAN, T
    stat = float(kbar[w].sum() / (math.sqrt(s2) * math.sqrt(np.sum(1.0 / n_t[w]))))
    return est, stat, T


def _pairwise_corr(x: np.ndarray, min_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete Pearson correlations of the columns of ``x`` (NaN = missing).

    Vectorised with matrix products over the observation masks; entries with fewer than
    ``min_overlap`` common observations (or a zero variance on the overlap) are NaN. Returns
    (correlation matrix, overlap counts).
    """
    m = np.isfinite(x).astype(float)
    x0 = np.where(m > 0, x, 0.0)
    n = m.T @ m
    sx = x0.T @ m                      # sx[i, j] = sum of x_i over days where i and j observed
    sxx = (x0 * x0).T @ m
    sxy = x0.T @ x0
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        vi = sxx - sx * sx / n
        vj = vi.T
        r = cov / np.sqrt(vi * vj)
    r[(n < max(min_overlap, 2)) | ~np.isfinite(r)] = np.nan
    np.clip(r, -1.0, 1.0, out=r)
    return r, n


# --------------------------------------------------------------------------------------------
# the group tests; each returns (estimate, statistic, dof, p_value, n)
# --------------------------------------------------------------------------------------------

@dataclass
class _Context:
    group: _Group
    n_boot: int
    seed: int
    kp_mode: str
    kp_min_overlap: int
    _corr: np.ndarray | None = None
    _cache: dict | None = None

    def cached(self, name: str, sel: np.ndarray, make):
        """Per-call memo of window-independent work keyed by the set of pairs."""
        if self._cache is None:
            self._cache = {}
        key = (name, sel.tobytes())
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def corr(self) -> np.ndarray:
        """Calendar-aligned estimation-residual correlations, NaN -> 0 (too little overlap)."""
        if self._corr is None:
            self._corr = np.nan_to_num(_calendar_corr(self.group, self.kp_min_overlap), nan=0.0)
        return self._corr


def _calendar_corr(g: _Group, min_overlap: int) -> np.ndarray:
    """Estimation-window ARs pivoted to (calendar date x pair), then pairwise correlations."""
    ok = g.is_est & np.isfinite(g.ar) & (g.date != _NO_DATE)
    uniq = np.unique(g.date[ok])
    x = np.full((len(uniq), len(g.keys)), np.nan)
    rr, cc = np.nonzero(ok)
    x[np.searchsorted(uniq, g.date[rr, cc]), cc] = g.ar[rr, cc]
    return _pairwise_corr(x, min_overlap)[0]


def _cars(w: _Window) -> tuple[np.ndarray, np.ndarray]:
    sel = np.isfinite(w.car)
    return w.car[sel], sel


def _scar(w: _Window) -> tuple[np.ndarray, np.ndarray]:
    sel = np.isfinite(w.car) & np.isfinite(w.car_var) & (w.car_var > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scar = w.car / np.sqrt(w.car_var)
    return scar, sel


def _cross_sectional_t(x: np.ndarray) -> tuple[float, float, float, float, int]:
    n = len(x)
    est = float(x.mean()) if n else _NAN
    if n < 2:
        return est, _NAN, _NAN, _NAN, n
    s = float(x.std(ddof=1))
    if not s > 0:
        return est, _NAN, float(n - 1), _NAN, n
    t = est / (s / math.sqrt(n))
    return est, t, float(n - 1), _t_p(t, n - 1), n


def _test_cross_sectional_t(ctx: _Context, w: _Window):
    return _cross_sectional_t(_cars(w)[0])


def _test_bw_cda(ctx: _Context, w: _Window):
    x, sel = _cars(w)
    n = len(x)
    est = float(x.mean()) if n else _NAN
    aar, cnt = _row_means(ctx.group.est_ar[:, sel])
    aar = aar[cnt > 0]
    T = len(aar)
    if n < 1 or T < 2:
        return est, _NAN, _NAN, _NAN, n
    sd = float(aar.std(ddof=1))
    if not sd > 0:
        return est, _NAN, float(T - 1), _NAN, n
    stat = est / (math.sqrt(w.length) * sd)
    return est, stat, float(T - 1), _t_p(stat, T - 1), n


def _patell_parts(w: _Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scar, sel = _scar(w)
    sel = sel & np.isfinite(w.dof) & (w.dof > 2)
    return scar[sel], w.dof[sel], sel


def _test_patell(ctx: _Context, w: _Window):
    s, dof, _ = _patell_parts(w)
    n = len(s)
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    z = float(s.sum() / math.sqrt(np.sum(dof / (dof - 2.0))))
    return float(s.mean()), z, _NAN, _z_p(z), n


def _test_bmp(ctx: _Context, w: _Window):
    scar, sel = _scar(w)
    return _cross_sectional_t(scar[sel])


def _mean_correlation(ctx: _Context, w: _Window, sel: np.ndarray) -> float:
    """r-bar over the selected pairs (off-diagonal mean), see docs for the two modes."""
    idx = np.flatnonzero(sel)
    n = len(idx)
    if n < 2:
        return _NAN
    r = ctx.corr()[np.ix_(idx, idx)]
    if ctx.kp_mode == "overlap":
        g = ctx.group
        rows = (g.days >= w.start) & (g.days <= w.end)
        d = g.date[rows][:, idx]
        ok = g.is_evt[rows][:, idx] & np.isfinite(g.ar[rows][:, idx]) & (d != _NO_DATE)
        uniq = np.unique(d[ok])
        ind = np.zeros((len(uniq), n))
        rr, cc = np.nonzero(ok)
        ind[np.searchsorted(uniq, d[rr, cc]), cc] = 1.0
        common = ind.T @ ind
        own = np.diag(common)
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = common / np.sqrt(np.outer(own, own))
        r = r * np.nan_to_num(weight, nan=0.0)
    off = ~np.eye(n, dtype=bool)
    return float(r[off].mean())


def _test_kp_patell(ctx: _Context, w: _Window):
    est, z, _, _, n = _test_patell(ctx, w)
    if n < 1 or np.isnan(z):
        return est, _NAN, _NAN, _NAN, n
    if n == 1:
        return est, z, _NAN, _z_p(z), n          # 1 + (N-1) r = 1
    rbar = _mean_correlation(ctx, w, _patell_parts(w)[2])
    denom = 1.0 + (n - 1) * rbar
    if not denom > 0:
        return est, _NAN, _NAN, _NAN, n
    zk = z / math.sqrt(denom)
    return est, zk, _NAN, _z_p(zk), n


def _test_kp_bmp(ctx: _Context, w: _Window):
    est, t, dof, _, n = _test_bmp(ctx, w)
    if n < 2 or np.isnan(t):
        return est, _NAN, dof, _NAN, n
    rbar = _mean_correlation(ctx, w, _scar(w)[1])
    denom = 1.0 + (n - 1) * rbar
    if not (denom > 0 and rbar < 1):
        return est, _NAN, dof, _NAN, n
    tk = t * math.sqrt((1.0 - rbar) / denom)
    return est, tk, dof, _t_p(tk, dof), n


def _window_rows(ctx: _Context, w: _Window) -> np.ndarray:
    d = ctx.group.days
    return (d >= w.start) & (d <= w.end)


def _test_corrado_rank(ctx: _Context, w: _Window):
    _, sel = _cars(w)
    n = int(sel.sum())
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    u = ctx.cached("corrado", sel, lambda: _scaled_ranks(ctx.group.ar[:, sel]))
    est, stat, _ = _rank_statistic(u, _window_rows(ctx, w))
    return est, stat, _NAN, _z_p(stat), n


def _cz_ranks(g: _Group, sel: np.ndarray) -> np.ndarray:
    """Scaled ranks of standardized ARs, event days re-standardized by their cross-sectional sd."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sar = g.ar[:, sel] / np.sqrt(g.var[:, sel])
    sar[~np.isfinite(sar)] = np.nan
    evt = g.is_evt[:, sel] & np.isfinite(sar)
    m, k = _row_means(np.where(evt, sar, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.where(evt, (sar - m[:, None]) ** 2, 0.0).sum(axis=1) / (k - 1)
        sd = np.where(k >= 2, np.sqrt(ss), np.nan)
        sar = np.where(evt, sar / sd[:, None], sar)
    sar[~np.isfinite(sar)] = np.nan            # an event day with < 2 pairs drops out
    return _scaled_ranks(sar)


def _test_cz_rank(ctx: _Context, w: _Window):
    _, sel = _cars(w)
    n = int(sel.sum())
    if n < 2:
        return _NAN, _NAN, _NAN, _NAN, n
    u = ctx.cached("cz", sel, lambda: _cz_ranks(ctx.group, sel))
    est, stat, _ = _rank_statistic(u, _window_rows(ctx, w))
    return est, stat, _NAN, _z_p(stat), n


def _grank_base(g: _Group, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimation-window SARs (days with any pair), their average ranks and counts per pair."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sar = g.est_ar[:, sel] / np.sqrt(g.var[:, sel])
    sar[~np.isfinite(sar)] = np.nan
    sar = sar[np.isfinite(sar).any(axis=1)]
    ranks = pd.DataFrame(sar).rank(axis=0, method="average", na_option="keep").to_numpy()
    return sar, ranks, np.isfinite(sar).sum(axis=0)


def _test_grank(ctx: _Context, w: _Window):
    scar, sel = _scar(w)
    n = int(sel.sum())
    if n < 2:
        return _NAN, _NAN, _NAN, _NAN, n
    s = scar[sel]
    sd = float(s.std(ddof=1))
    if not sd > 0:
        return _NAN, _NAN, _NAN, _NAN, n
    sar, ranks, m = ctx.cached("grank", sel, lambda: _grank_base(ctx.group, sel))
    v = s / sd                                  # re-standardized SCAR, the CAR's one observation
    # insert v into each pair's ranked estimation SARs (average ranks for ties), M_i + 1 values
    above = (sar > v).astype(float) + 0.5 * (sar == v)
    u_est = (ranks + above) / (m + 2.0) - 0.5
    r0 = np.sum(sar < v, axis=0) + (np.sum(sar == v, axis=0) + 2.0) / 2.0
    u = np.vstack([u_est, (r0 / (m + 2.0) - 0.5)[None, :]])
    ubar, n_t = _row_means(u)
    used = n_t > 0
    T = int(used.sum())
    if T < 3:
        return _NAN, _NAN, _NAN, _NAN, n
    s2 = float(np.sum((n_t[used] / n) * ubar[used] ** 2) / T)
    u0 = float(ubar[-1])
    if not s2 > 0:
        return u0, _NAN, float(T - 2), _NAN, n
    z = u0 / math.sqrt(s2)
    room = T - 1 - z * z
    t = math.copysign(math.inf, z) if room <= 0 else z * math.sqrt((T - 2) / room)
    return u0, t, float(T - 2), _t_p(t, T - 2), n


def _test_sign(ctx: _Context, w: _Window):
    x, _ = _cars(w)
    x = x[x != 0]
    n = len(x)
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    k = int((x > 0).sum())
    p_hat = k / n
    z = (p_hat - 0.5) * math.sqrt(n) / 0.5
    # exact two-sided binomial p-value; Binomial(n, 1/2) is symmetric, so this is binomtest's
    p = min(1.0, 2.0 * float(special.bdtr(min(k, n - k), n, 0.5)))
    return p_hat, z, _NAN, p, n


def _test_generalized_sign(ctx: _Context, w: _Window):
    x, sel = _cars(w)
    n = len(x)
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    a = ctx.group.est_ar[:, sel]
    ok = np.isfinite(a)
    m = ok.sum(axis=0)
    frac = (np.where(ok, a, 0.0) > 0).sum(axis=0)[m > 0] / m[m > 0]
    wpos = int((x > 0).sum())
    est = wpos / n
    if len(frac) == 0:
        return est, _NAN, _NAN, _NAN, n
    p = float(frac.mean())
    if not 0 < p < 1:
        return est, _NAN, _NAN, _NAN, n
    z = (wpos - n * p) / math.sqrt(n * p * (1 - p))
    return est, z, _NAN, _z_p(z), n


def _test_wilcoxon(ctx: _Context, w: _Window):
    x, _ = _cars(w)
    est = float(np.median(x)) if len(x) else _NAN
    nz = x[x != 0]
    n = len(nz)
    if n < 1:
        return est, _NAN, _NAN, _NAN, 0
    a = np.abs(nz)
    ranks = stats.rankdata(a)
    w_plus = float(ranks[nz > 0].sum())
    _, counts = np.unique(a, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24.0 - np.sum(counts ** 3 - counts) / 48.0
    z = (w_plus - n * (n + 1) / 4.0) / math.sqrt(var) if var > 0 else _NAN
    if n <= _WILCOXON_EXACT_MAX and len(counts) == n:
        # no ties: exact null distribution of W+ (what scipy's method="auto" does), cached by n
        cdf = _wilcoxon_cdf(n)
        w = int(round(w_plus))
        p = min(1.0, 2.0 * min(cdf[w], 1.0 - (cdf[w - 1] if w > 0 else 0.0)))
    else:
        p = float(stats.wilcoxon(nz, zero_method="wilcox", method="auto").pvalue)
    return est, z, _NAN, p, n


_WILCOXON_EXACT_MAX = 50


@functools.lru_cache(maxsize=None)
def _wilcoxon_cdf(n: int) -> np.ndarray:
    """P(W+ <= w), w = 0 .. n(n+1)/2, for n untied non-zero values: coefficients of
    prod_k (1 + x^k) / 2^n."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):                 # one factor (1 + x^k) per rank, not per day
        counts[k:] = counts[k:] + counts[:-k]
    return np.cumsum(counts) / 2.0 ** n


def _test_skew_t(ctx: _Context, w: _Window):
    x, _ = _cars(w)
    n = len(x)
    est = float(x.mean()) if n else _NAN
    if n < 3:
        return est, _NAN, _NAN, _NAN, n
    sd = float(x.std(ddof=1))
    if not sd > 0:
        return est, _NAN, _NAN, _NAN, n
    s = est / sd
    g = n / ((n - 1) * (n - 2)) * float(np.sum(((x - est) / sd) ** 3))  # adjusted G1
    t = math.sqrt(n) * (s + g * s ** 2 / 3.0 + g ** 2 * s ** 3 / 27.0 + g / (6.0 * n))
    return est, t, _NAN, _z_p(t), n


def _test_bootstrap(ctx: _Context, w: _Window):
    x, _ = _cars(w)
    est, t, _, _, n = _cross_sectional_t(x)
    if n < 2 or np.isnan(t):
        return est, _NAN, _NAN, _NAN, n
    y = x - x.mean()                                   # impose the null: mean zero
    rng = np.random.default_rng(ctx.seed)
    yb = y[rng.integers(0, n, size=(ctx.n_boot, n))]
    sb = yb.std(axis=1, ddof=1)
    # a resample of one repeated value has no spread: its t is undefined, not fp noise / 0
    keep = sb > _REL_TOL * float(x.std(ddof=1))
    tb = yb.mean(axis=1)[keep] / (sb[keep] / math.sqrt(n))
    if len(tb) == 0:
        return est, t, _NAN, _NAN, n
    p = (np.count_nonzero(np.abs(tb) >= abs(t) * (1 - _REL_TOL)) + 1) / (len(tb) + 1)
    return est, t, _NAN, float(p), n


_TESTS = {
    "cross_sectional_t": _test_cross_sectional_t,
    "bw_cda": _test_bw_cda,
    "patell": _test_patell,
    "bmp": _test_bmp,
    "kp_patell": _test_kp_patell,
    "kp_bmp": _test_kp_bmp,
    "corrado_rank": _test_corrado_rank,
    "cz_rank": _test_cz_rank,
    "grank": _test_grank,
    "sign": _test_sign,
    "generalized_sign": _test_generalized_sign,
    "wilcoxon": _test_wilcoxon,
    "skew_t": _test_skew_t,
    "bootstrap": _test_bootstrap,
}
assert tuple(_TESTS) == ALL_GROUP_TESTS


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------

def group_tests(panel: pd.DataFrame, cars: pd.DataFrame, windows: Sequence[tuple[int, int]], *,
                tests: Sequence[str] = ALL_GROUP_TESTS, n_boot: int = 2000, seed: int = 0,
                kp_correlation: str = "overlap",
                kp_min_overlap: int = KP_MIN_OVERLAP) -> pd.DataFrame:
    """Run every test in ``tests`` for every window of one group of pairs.

    Parameters
    ----------
    panel, cars
        the model layer's frames for the pairs of one group (see the module docstring).
    windows
        ``(start, end)`` rel_day pairs, inclusive. A daily test is ``(d, d)``; a daily window
        absent from ``cars`` is read off ``panel`` (CAR = AR, variance = ``ar_var``). A pair
        without a (finite) CAR for a window is left out of that window's tests; a window no pair
        has gives NaN rows with ``n = 0``.
    tests
        names from :data:`ALL_GROUP_TESTS`; rows come out window by window, tests in this order.
    n_boot, seed
        replications and seed of the group bootstrap (the same seed for every window, so a
        window's p-value does not depend on which other windows are asked for).
    kp_correlation
        how the Kolari-Pynnonen r-bar is formed from the calendar-aligned estimation-residual
        correlations r_ij: ``"overlap"`` (default) weights r_ij by the share of calendar dates the
        two pairs' windows have in common, ``c_ij / sqrt(n_i n_j)`` - exactly Kolari & Pynnonen
        (2010) when all pairs share the event dates, and zero for pairs whose windows do not
        overlap in calendar time; ``"estimation"`` uses r_ij as is (the paper's estimator).
    kp_min_overlap
        common estimation dates needed for r_ij; pairs with fewer contribute r_ij = 0.

    Returns
    -------
    DataFrame with columns :data:`OUTPUT_COLUMNS`, ``len(windows) * len(tests)`` rows.
    """
    tests = tuple(tests)
    unknown = [t for t in tests if t not in _TESTS]
    if unknown:
        raise ValueError(f"unknown test(s): {', '.join(unknown)}; choose from {ALL_GROUP_TESTS}")
    if kp_correlation not in _KP_MODES:
        raise ValueError(f"kp_correlation must be one of {_KP_MODES}, got {kp_correlation!r}")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    group = _prepare_panel(panel)
    wins = _prepare_windows(cars, group, windows)
    ctx = _Context(group, int(n_boot), int(seed), kp_correlation, int(kp_min_overlap))
    rows = []
    for w in wins:
        for name in tests:
            est, stat, dof, p, n = _TESTS[name](ctx, w)
            rows.append((w.start, w.end, name, est, stat, dof, p, n))
    return _frame(rows)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [()] * len(OUTPUT_COLUMNS)
    dtypes = ("int64", "int64", object, "float64", "float64", "float64", "float64", "int64")
    return pd.DataFrame({name: np.array(c, dtype=dt)
                         for name, c, dt in zip(OUTPUT_COLUMNS, cols, dtypes)})


def pair_bootstrap(panel_one_pair: pd.DataFrame, cars_one_pair: pd.DataFrame) -> pd.DataFrame:
    """Empirical two-sided p-value of each CAR of one pair against its estimation window.

    The reference distribution is every sum of ``n`` consecutive estimation-window ARs
    (overlapping windows; consecutive in rel_day, a window touching a missing AR is skipped),
    where ``n`` is the CAR's ``n_days`` (= the window length when no AR is missing).
    ``p = (#{|S_m| >= |CAR|} + 1) / (M + 1)``. Columns as :data:`OUTPUT_COLUMNS` with
    ``test = "bootstrap"``, ``estimate = statistic = car``, ``dof`` NaN and ``n = M``.
    """
    _check_columns(panel_one_pair, ("event_id", "series", "phase", "rel_day", "abnormal_return"),
                   "panel_one_pair")
    _check_columns(cars_one_pair, ("event_id", "series", "window_start", "window_end", "car",
                                   "n_days"), "cars_one_pair")
    pairs = set(_pair_strings(panel_one_pair)) | set(_pair_strings(cars_one_pair))
    if len(pairs) > 1:
        raise ValueError(f"pair_bootstrap takes one (event_id, series) pair, got {len(pairs)}")
    est = panel_one_pair[panel_one_pair["phase"].to_numpy() == "estimation"]
    rel = est["rel_day"].to_numpy().astype(np.int64)
    x = np.full(int(rel.max() - rel.min() + 1) if len(rel) else 0, np.nan)
    if len(rel):
        if len(np.unique(rel)) != len(rel):
            raise ValueError("panel_one_pair has duplicate estimation rel_days")
        x[rel - rel.min()] = est["abnormal_return"].to_numpy(dtype=float)
    c = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(x), x, 0.0))])
    bad = np.concatenate([[0], np.cumsum(~np.isfinite(x))])

    sums_by_len: dict[int, np.ndarray] = {}

    def sums(length: int) -> np.ndarray:
        if length not in sums_by_len:
            if length > len(x):
                sums_by_len[length] = np.empty(0)
            else:
                ok = (bad[length:] - bad[:-length]) == 0
                sums_by_len[length] = (c[length:] - c[:-length])[ok]
        return sums_by_len[length]

    rows = []
    for start, end, car, n_days in cars_one_pair[["window_start", "window_end", "car",
                                                  "n_days"]].itertuples(index=False):
        car = float(car)
        length = int(n_days) if np.isfinite(n_days) and n_days >= 1 else 0
        if not np.isfinite(car) or length == 0:
            rows.append((start, end, "bootstrap", car, car, _NAN, _NAN, 0))
            continue
        s = sums(length)
        m = len(s)
        p = ((np.count_nonzero(np.abs(s) >= abs(car) * (1 - _REL_TOL)) + 1) / (m + 1)
             if m else _NAN)
        rows.append((start, end, "bootstrap", car, car, _NAN, float(p), m))
    return _frame(rows)


def residual_correlation(panel: pd.DataFrame, *, min_overlap: int = KP_MIN_OVERLAP
                         ) -> pd.DataFrame:
    """Pairwise-complete correlations of estimation-window ARs aligned on calendar dates.

    Index and columns are the (event_id, series) pairs, sorted; NaN where two pairs have fewer
    than ``min_overlap`` common dates (:func:`group_tests` counts those as 0).
    """
    group = _prepare_panel(panel)
    r = _calendar_corr(group, int(min_overlap))
    np.fill_diagonal(r, 1.0)
    return pd.DataFrame(r, index=group.keys, columns=group.keys)
