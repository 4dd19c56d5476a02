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
import importlib
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special   # scipy.stats and scipy.sparse cost ~2 s to import: on use

__all__ = [
    "ALL_GROUP_TESTS",
    "GROUP_COLUMNS",
    "OUTPUT_COLUMNS",
    "KP_EXACT_MAX",
    "KP_MIN_OVERLAP",
    "MIN_N",
    "OVERSIZED",
    "GroupMatrix",
    "WindowCars",
    "group_tests",
    "group_tests_matrix",
    "pair_bootstrap",
    "pair_bootstrap_matrix",
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
#: the columns of a group-test frame: OUTPUT_COLUMNS + a note (empty unless a row needs one)
GROUP_COLUMNS: list[str] = OUTPUT_COLUMNS + ["note"]

#: minimum number of common calendar dates for a pairwise residual correlation (Kolari-Pynnonen)
KP_MIN_OVERLAP = 30
#: largest number of pairs whose Kolari-Pynnonen r-bar is computed pairwise (P x P matrices)
KP_EXACT_MAX = 2000

_PANEL_COLUMNS = ("event_id", "series", "phase", "rel_day", "date", "abnormal_return", "ar_var")
_CARS_COLUMNS = ("event_id", "series", "window_start", "window_end", "car", "car_var", "dof",
                 "n_days")
_KP_MODES = ("overlap", "estimation")

#: smallest number of pairs for which a test gives a statistic; below it the row has NaN
#: ``statistic`` and ``p_value`` and a note. Set from the size simulations in
#: docs/size-power.md: below these N the test's rejection rate at 5% leaves [3.5%, 6.5%].
MIN_N: dict[str, int] = {
    "cz_rank": 10,
    "grank": 10,
    "skew_t": 5,
    "bootstrap": 20,
    "sign": 20,
    "generalized_sign": 20,
}
_MIN_N_WHY = {
    "cz_rank": "re-standardizing each day by a handful of values makes the daily mean ranks "
               "heavy-tailed and the test over-rejects",
    "grank": "re-standardizing each day by a handful of values makes the daily mean ranks "
             "heavy-tailed and the test over-rejects",
    "skew_t": "the skewness of fewer CARs is too noisy to correct anything",
    "bootstrap": "resamples of so few CARs make the bootstrap t heavy-tailed and the test "
                 "conservative",
    "sign": "a binomial count this small cannot come close to a 5% level (2.1% at N = 10)",
    "generalized_sign": "a binomial count this small cannot come close to a 5% level "
                        "(about 2-3% at N = 10)",
}

#: group tests whose rejection rate at 5% leaves [3.5%, 6.5%] on real daily returns at every N
#: (docs/size-power.md: 6.2%-8.3% on the bundled series and on a whole market at N = 10, 30
#: and 100; sized on i.i.d. normal returns). Their assumption that the estimation window's
#: variance (or skewness) describes the event window is what daily returns break. By default
#: their rows keep the estimate but have NaN ``statistic`` and ``p_value`` and a note; pass
#: ``oversized=()`` (study.report_oversized_tests = true) to report them with the note.
OVERSIZED: dict[str, str] = {
    "patell": "over-rejects on daily returns (6.4%-7.4% at 5%: clustered volatility); read bmp",
    "kp_patell": "over-rejects on daily returns (6.4%-7.3% at 5%: clustered volatility); "
                 "read kp_bmp",
    "bw_cda": "over-rejects on daily returns (up to 7.0% at 5%: clustered volatility); "
              "read kp_bmp",
    "skew_t": "over-rejects on daily CARs (6.7%-8.3% at 5%: fat tails, not skewness); "
              "read cross_sectional_t",
}
_OVERSIZED_WHERE = ", docs/size-power.md"

_NAN = float("nan")
_NO_SEL = np.zeros(0, dtype=bool)       # a cache key for work that depends on no selection
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
class GroupMatrix:
    """One group's pairs as (rel_day x pair) matrices; pairs sorted by (event_id, series).

    The engine builds it with :meth:`compact`; :func:`group_tests` pivots a long panel into
    it (:meth:`from_arrays`). Dates are int64 day numbers (days since 1970-01-01; ``_NO_DATE``
    = int64 min, the bit pattern of NaT, where a pair has no row). Only the bootstrap depends
    on the pair order, which is why it is fixed: sorted by (event_id, series) compared as
    strings.

    At 500,000 pairs every (D, P) array is ~1 GB, so the engine's matrix stores neither
    ``var`` nor ``date`` in full (``var is None``, ``date is None``): an estimation row's
    variance is the pair's sigma^2 (``var_est``), the event rows' variances are a band of
    rows (``var_band`` on ``band``), and a date is ``cal[pos[pair] + row]`` (one calendar
    array for every pair). Read them through :meth:`var_rows` and :meth:`date_rows`.
    """

    keys: pd.MultiIndex     # (P,) (event_id, series)
    days: np.ndarray        # (D,) sorted rel_days (union over pairs and phases)
    ar: np.ndarray          # (D, P) abnormal returns, NaN where missing or absent
    var: np.ndarray | None  # (D, P) ar_var (None: var_est and var_band)
    is_est: np.ndarray      # (D, P) bool: row exists and phase == estimation
    is_evt: np.ndarray      # (D, P) bool: row exists and phase == event
    date: np.ndarray | None  # (D, P) int64 day numbers, sentinel where absent (None: cal/pos)
    dof: np.ndarray         # (P,) estimation residual dof (NaN if unknown)
    var_est: np.ndarray | None = None    # (P,) every estimation row's variance
    var_band: np.ndarray | None = None   # (band rows, P) event rows' variances (NaN elsewhere)
    band: tuple[int, int] = (0, 0)       # the rows [b0, b1) that var_band covers
    cal: np.ndarray | None = None        # (C,) int64 day numbers of every pair's calendar
    pos: np.ndarray | None = None        # (P,) the pair's row 0 in ``cal``
    # per-pair work (ranks, standardised residuals) is done once on the matrix a sub-group was
    # taken from and sliced: `_root` is that matrix, `_root_cols` this one's columns in it
    _root: "GroupMatrix | None" = field(default=None, repr=False, compare=False)
    _root_cols: np.ndarray | None = field(default=None, repr=False, compare=False)
    _shared: dict | None = field(default=None, repr=False, compare=False)

    @property
    def est_ar(self) -> np.ndarray:
        """``ar`` on estimation rows only, NaN elsewhere (a new (D, P) array: not stored, the
        tests mask the columns they use)."""
        return np.where(self.is_est, self.ar, np.nan)

    @property
    def evt_ar(self) -> np.ndarray:
        """``ar`` on event rows only, NaN elsewhere (a new (D, P) array)."""
        return np.where(self.is_evt, self.ar, np.nan)

    def var_rows(self, r0: int, r1: int, sel: np.ndarray | None = None) -> np.ndarray:
        """``var[r0:r1]`` (of the selected columns, a boolean mask), a new C-ordered array."""
        if self.var is not None:
            v = self.var[r0:r1]
            return np.array(v if sel is None else _cols(v, sel))
        est = self.is_est[r0:r1]
        ve = self.var_est
        if sel is not None and not sel.all():
            est, ve = est[:, sel], ve[sel]
        out = np.where(est, ve[None, :], np.nan)
        b0, b1 = self.band
        lo, hi = max(r0, b0), min(r1, b1)
        if lo < hi:
            band = self.var_band[lo - b0:hi - b0]
            if sel is not None and not sel.all():
                band = band[:, sel]
            out[lo - r0:hi - r0] = np.where(self.is_evt[lo:hi] if sel is None or sel.all()
                                            else self.is_evt[lo:hi][:, sel], band,
                                            out[lo - r0:hi - r0])
        return out

    def date_rows(self, r0: int, r1: int, cols: np.ndarray | None = None) -> np.ndarray:
        """``date[r0:r1]`` (of the columns ``cols``, integer positions): day numbers where the
        pair has a row, ``_NO_DATE`` elsewhere."""
        if self.date is not None:
            d = self.date[r0:r1]
            return d if cols is None else d[:, cols]
        pos = self.pos if cols is None else self.pos[cols]
        d = self.cal[pos[None, :] + np.arange(r0, r1)[:, None]]
        has = self.is_est[r0:r1] | self.is_evt[r0:r1]
        return np.where(has if cols is None else has[:, cols], d, _NO_DATE)

    @classmethod
    def from_arrays(cls, keys, days, ar, var, is_est, is_evt, date, dof) -> "GroupMatrix":
        """Check shapes and pair order. ``date`` may be int64 day numbers or datetime64
        (NaT = no row)."""
        if not isinstance(keys, pd.MultiIndex):
            keys = pd.MultiIndex.from_tuples(list(keys), names=["event_id", "series"])
        days = np.asarray(days).astype(np.int64)
        ar = np.asarray(ar, dtype=float)
        D, P = len(days), len(keys)
        if ar.shape != (D, P):
            raise ValueError(f"ar has shape {ar.shape}, expected (len(days), len(keys)) = "
                             f"{(D, P)}")
        var = np.asarray(var, dtype=float)
        is_est = np.asarray(is_est, dtype=bool)
        is_evt = np.asarray(is_evt, dtype=bool)
        date = np.asarray(date)
        if np.issubdtype(date.dtype, np.datetime64):
            date = date.astype("datetime64[D]").astype(np.int64)   # NaT -> int64 min
        date = date.astype(np.int64, copy=False)
        dof = np.asarray(dof, dtype=float)
        for name, a in (("var", var), ("is_est", is_est), ("is_evt", is_evt), ("date", date)):
            if a.shape != (D, P):
                raise ValueError(f"{name} has shape {a.shape}, expected {(D, P)}")
        if dof.shape != (P,):
            raise ValueError(f"dof has shape {dof.shape}, expected {(P,)}")
        if D > 1 and not (np.diff(days) > 0).all():
            raise ValueError("days must be strictly increasing")
        if (is_est & is_evt).any():
            raise ValueError("a (day, pair) cell is both estimation and event")
        _check_pair_order(keys)
        return cls(keys, days, ar, var, is_est, is_evt, date, dof)

    @classmethod
    def compact(cls, keys, days, ar, is_est, is_evt, dof, *, var=None, var_est=None,
                var_band=None, band=(0, 0), cal, pos) -> "GroupMatrix":
        """The engine's form: dates as ``cal[pos + row]``; ``var`` in full, or ``var_est``
        (P,) on estimation rows and ``var_band`` on the rows ``band`` (event rows)."""
        D, P = len(days), len(keys)
        if ar.shape != (D, P) or is_est.shape != (D, P) or is_evt.shape != (D, P):
            raise ValueError("ar, is_est, is_evt must be (len(days), len(keys))")
        if len(pos) and (pos.min() < 0 or pos.max() + D > len(cal)):
            raise ValueError("pos + row falls off cal")
        if var is None and (var_est is None or var_band is None
                            or var_band.shape != (band[1] - band[0], P)):
            raise ValueError("var, or var_est and var_band over band, must be given")
        _check_pair_order(keys)
        return cls(keys, np.asarray(days, np.int64), ar, var, is_est, is_evt, None, dof,
                   var_est, var_band, tuple(band), cal, pos)

    def take(self, cols) -> "GroupMatrix":
        """The sub-group of columns ``cols`` (integer positions or a boolean mask), order kept."""
        cols = np.asarray(cols)
        cols = np.flatnonzero(cols) if cols.dtype == bool else np.sort(cols.astype(np.int64))
        root = self if self._root is None else self._root
        pick = lambda a, two=True: None if a is None else (a[:, cols] if two else a[cols])  # noqa
        return GroupMatrix(self.keys[cols], self.days, self.ar[:, cols], pick(self.var),
                           self.is_est[:, cols], self.is_evt[:, cols], pick(self.date),
                           self.dof[cols], pick(self.var_est, False), pick(self.var_band),
                           self.band, self.cal, pick(self.pos, False),
                           root, cols if self._root_cols is None else self._root_cols[cols])

    def root_cols(self, sel: np.ndarray) -> np.ndarray:
        """Positions of the selected columns (a boolean mask) in the root matrix."""
        own = np.flatnonzero(sel)
        return own if self._root_cols is None else self._root_cols[own]

    def per_pair(self, name: str, make):
        """``make(root)``: work that depends on each pair alone, done once on the root matrix
        (the whole model's pairs in a study) for all the groups taken from it."""
        root = self if self._root is None else self._root
        if root._shared is None:
            root._shared = {}
        if name not in root._shared:
            root._shared[name] = make(root)
        return root._shared[name]


def _check_pair_order(keys: pd.MultiIndex) -> None:
    """Pairs must be unique and sorted by (event_id, series) as strings (the bootstrap's order)."""
    if len(keys) < 2:
        return
    ev = np.asarray(keys.get_level_values(0).astype(str), dtype=object)
    se = np.asarray(keys.get_level_values(1).astype(str), dtype=object)
    up = (ev[1:] > ev[:-1]) | ((ev[1:] == ev[:-1]) & (se[1:] > se[:-1]))
    if not up.all():
        i = int(np.argmin(up))
        raise ValueError("keys must be unique and sorted by (event_id, series) as strings; "
                         f"{(ev[i + 1], se[i + 1])} comes after {(ev[i], se[i])}")


def _prepare_panel(panel: pd.DataFrame) -> GroupMatrix:
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
    dof = np.full(len(keys), np.nan)
    if "dof" in panel.columns:
        dof[col] = panel["dof"].to_numpy(dtype=float)
    return GroupMatrix(keys, days, ar, var, is_est, is_evt, date, dof)


@dataclass
class WindowCars:
    """One event window's per-pair CARs, aligned with a :class:`GroupMatrix`'s columns.

    ``car`` is NaN for a pair without a CAR for this window (it is left out of the tests);
    ``car_var`` is the full prediction-error variance, ``dof`` the pair's residual dof,
    ``n_days`` the number of ARs summed.
    """

    start: int
    end: int
    car: np.ndarray         # (P,)
    car_var: np.ndarray     # (P,)
    dof: np.ndarray         # (P,)
    n_days: np.ndarray      # (P,)

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @classmethod
    def from_day(cls, group: GroupMatrix, day: int) -> "WindowCars":
        """The daily window (day, day) read off the group: CAR = AR, variance = ``var``."""
        P = len(group.keys)
        w = cls(int(day), int(day), *(np.full(P, np.nan) for _ in range(4)))
        r = np.searchsorted(group.days, day)
        if r < len(group.days) and group.days[r] == day:
            w.car[:] = np.where(group.is_evt[r], group.ar[r], np.nan)
            w.car_var[:] = np.where(group.is_evt[r], group.var_rows(r, r + 1)[0], np.nan)
            w.n_days[:] = np.isfinite(w.car).astype(float)
            w.dof[:] = group.dof
        return w

    def take(self, cols) -> "WindowCars":
        """The same columns as :meth:`GroupMatrix.take`."""
        cols = np.asarray(cols)
        cols = np.flatnonzero(cols) if cols.dtype == bool else np.sort(cols.astype(np.int64))
        return WindowCars(self.start, self.end, self.car[cols], self.car_var[cols],
                          self.dof[cols], self.n_days[cols])


def _prepare_windows(cars: pd.DataFrame, group: GroupMatrix,
                     windows: Sequence[tuple[int, int]]) -> list[WindowCars]:
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
        if hit.any():
            w = WindowCars(start, end, *(np.full(P, np.nan) for _ in range(4)))
            c = col[hit]
            if len(np.unique(c)) != len(c):
                raise ValueError(f"cars has duplicate rows for a pair in window ({start}, {end})")
            sub = cars.loc[hit]
            w.car[c] = sub["car"].to_numpy(dtype=float)
            w.car_var[c] = sub["car_var"].to_numpy(dtype=float)
            w.dof[c] = sub["dof"].to_numpy(dtype=float)
            w.n_days[c] = sub["n_days"].to_numpy(dtype=float)
        elif start == end:
            # a daily window can be read off the panel: CAR = AR, var = prediction-error var
            w = WindowCars.from_day(group, start)
        else:
            # no pair has a CAR for this window: every test gives a NaN row with n = 0
            w = WindowCars(start, end, *(np.full(P, np.nan) for _ in range(4)))
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


def _cols(a: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The selected columns of a (D, P) matrix, without a copy when every column is selected."""
    return a if sel.all() else a[:, sel]


def _row_blocks(D: int, P: int):
    """(r0, r1) blocks of rows of a (D, P) array with ~4 M cells each: a row's work is its
    own, so blocks give the same bits as the whole, with bounded temporaries."""
    step = max(1, (1 << 22) // max(P, 1))
    return [(r, min(r + step, D)) for r in range(0, D, step)]


def _block_row_means(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_row_means` a block of rows at a time (the same bits: each row is summed alone,
    in the array's own memory order)."""
    parts = [_row_means(x[r0:r1]) for r0, r1 in _row_blocks(*x.shape)]
    if not parts:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate([m for m, _ in parts]), np.concatenate([n for _, n in parts])


def _column_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of the finite entries of each column, NaN elsewhere: pandas'
    ``rank(method="average", na_option="keep")``, from one sort of the transposed matrix
    (numpy's SIMD argsort: faster here than a numba loop of per-column sorts). Returned as the
    transpose of a (P, D) array: later sums over it run in that order."""
    xt = np.ascontiguousarray(x.T, dtype=float)              # (P, D)
    P, D = xt.shape
    bad = ~np.isfinite(xt)
    xt[bad] = np.inf                                          # missing sort last
    flat = np.argsort(xt, axis=1)                 # ties get their average rank, in any order
    flat += (np.arange(P) * D)[:, None]           # flat positions: np.take / np.put, no
    srt = np.take(xt, flat)                       # fancy-indexing machinery
    tie = srt[:, 1:] == srt[:, :-1]                           # same as the one before
    tie &= srt[:, 1:] != np.inf
    ranks = np.empty((P, D))
    np.put(ranks, flat, np.arange(1.0, D + 1.0))  # ordinal ranks (put repeats them row by row)
    tied = np.flatnonzero(tie.any(axis=1))
    if len(tied):                                 # average the positions of each tie run
        st = np.ones((len(tied), D), dtype=bool)
        st[:, 1:] = ~tie[tied]                    # first of a tie run
        pos = np.broadcast_to(np.arange(D, dtype=float), st.shape)
        end = np.ones(st.shape, dtype=bool)
        end[:, :-1] = st[:, 1:]
        first = np.maximum.accumulate(np.where(st, pos, 0), axis=1)
        last = np.flip(np.minimum.accumulate(np.flip(np.where(end, pos, D), axis=1), axis=1),
                       axis=1)
        np.put(ranks, flat[tied], (first + last) / 2.0 + 1.0)
    ranks[bad] = np.nan
    return ranks.T


def _kernels(module: str):
    """``eventstudy.<module>`` (the numba kernels of the group tests: ``_rankkernels``,
    ``_groupkernels``) behind the fast path's gate (``fastpath.kernels_if_loaded``): None when
    numba is absent, switched off, or not loaded yet in ``auto`` mode (a small study never
    imports it), and the numpy code here, the reference, runs."""
    from eventstudy.fastpath import kernels_if_loaded
    if kernels_if_loaded() is None:
        return None
    return importlib.import_module(f"eventstudy.{module}")


def _root_ranks(g: GroupMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each column's average ranks of ``ar`` as float32 (half-integers: exact, half the
    memory) and its number of ranked values; ``ranks / (m + 1) - 0.5`` is Corrado and
    Zivney's (1992) ``U_it - 1/2``. Columns in blocks: the ranking's temporaries stay bounded.
    The kernels store them as uint16 twice the ranks (0: not ranked) when those fit (half
    the float32 ranks' memory: they stay on the root for every group), which
    :func:`_rank_values` and the kernels' sums read as the float32 ranks' very values."""
    kernels = _kernels("_rankkernels")
    if kernels is not None:
        return kernels.column_ranks(g.ar, twice=True)
    D, P = g.ar.shape
    if D >= 1 << 22:
        raise ValueError("too many days for float32 ranks")
    ranks = np.empty((P, D), dtype=np.float32).T     # pair-major, as _column_ranks' own
    step = max(1, (1 << 22) // max(D, 1))
    for c in range(0, P, step):
        ranks[:, c:c + step] = _column_ranks(g.ar[:, c:c + step])
    return ranks, np.isfinite(g.ar).sum(axis=0)


@dataclass
class _RankBase:
    """Window-independent part of a rank test: daily mean centred ranks and their variance."""

    kbar: np.ndarray        # (D,) mean centred rank over the pairs ranked on each day
    n_t: np.ndarray         # (D,) pairs ranked on each day
    used: np.ndarray        # (D,) n_t > 0
    T: int                  # days with n_t > 0
    s2: float               # (1/T) sum_t N_t Kbar_t^2


def _rank_base(u: np.ndarray) -> _RankBase:
    kbar, n_t = _block_row_means(u)
    used = n_t > 0
    T = int(used.sum())
    s2 = float(np.sum(n_t[used] * kbar[used] ** 2) / T) if T else _NAN
    return _RankBase(kbar, n_t, used, T, s2)


def _rank_statistic(base: _RankBase, window_rows: np.ndarray) -> tuple[float, float, int]:
    """Corrado / Cowan rank statistic from centred scaled ranks ``u`` (days x pairs).

    ``Kbar_t`` = mean centred rank over the N_t pairs ranked on day t; ``S^2 = (1/T) sum_t N_t
    Kbar_t^2`` over the T days with N_t >= 1 (the per-pair rank variance, time-series estimate that
    absorbs cross-sectional dependence); statistic ``sum_{t in W} Kbar_t / (S sqrt(sum_{t in W}
    1/N_t))``. Returns (estimate = mean Kbar_t over the window days, statistic, T).
    """
    kbar, n_t, used, T, s2 = base.kbar, base.n_t, base.used, base.T, base.s2
    w = window_rows & used
    if T < 2 or not w.any():
        return _NAN, _NAN, T
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

#: _Context.cached kinds whose entries hold (days x pairs) arrays (kept for two sets of pairs)
_BIG_KINDS = frozenset({"kp_sums", "corr"})


@dataclass
class _Context:
    group: GroupMatrix
    n_boot: int
    seed: int
    kp_mode: str
    kp_min_overlap: int
    kp_exact_max: int = KP_EXACT_MAX
    windows: Sequence[WindowCars] = ()
    _cache: dict | None = None
    test: str = ""             # the test running: the owner of what it caches
    _owner: dict | None = None  # cache key -> the test that made it

    def cached(self, name: str, sel: np.ndarray, make):
        """Per-call memo of window-independent work keyed by the set of pairs. Of the kinds
        that hold (days x pairs) arrays only the last two sets of pairs are kept: a big group's
        windows have a set each (a pair without a CAR on one day), and keeping every one
        multiplied the memory; a set that comes back later is recomputed, to the same bits."""
        if self._cache is None:
            self._cache, self._owner = {}, {}
        key = (name, sel.tobytes())
        if key not in self._cache:
            if name in _BIG_KINDS:
                mine = [k for k in self._cache if k[0] == name]
                for k in mine[:max(0, len(mine) - 1)]:
                    del self._cache[k], self._owner[k]
            self._cache[key] = make()
            self._owner[key] = self.test
        return self._cache[key]

    def release(self, done) -> None:
        """Drop what the tests ``done`` cached (a group's ranks, sorted SARs, date sums: GBs
        at 500,000 pairs), so that the next test's work does not come on top of it."""
        for key in [k for k, t in (self._owner or {}).items() if t in done]:
            del self._cache[key], self._owner[key]

    def corr(self, sel: np.ndarray) -> np.ndarray:
        """Calendar-aligned estimation-residual correlations of the selected pairs, NaN -> 0
        (too little overlap). Computed once for the whole group when it is small enough."""
        if len(self.group.keys) <= self.kp_exact_max:
            whole = self.cached("corr-group", _NO_SEL, lambda: np.nan_to_num(
                _calendar_corr(self.group, self.kp_min_overlap), nan=0.0))
            if sel.all():
                return whole
            return self.cached("corr", sel, lambda: whole[np.ix_(sel, sel)])
        return self.cached("corr", sel, lambda: np.nan_to_num(
            _calendar_corr(self.group.take(sel), self.kp_min_overlap), nan=0.0))


def _calendar_corr(g: GroupMatrix, min_overlap: int) -> np.ndarray:
    """Estimation-window ARs pivoted to (calendar date x pair), then pairwise correlations."""
    date = g.date_rows(0, len(g.days))
    ok = g.is_est & np.isfinite(g.ar) & (date != _NO_DATE)
    uniq = np.unique(date[ok])
    x = np.full((len(uniq), len(g.keys)), np.nan)
    rr, cc = np.nonzero(ok)
    x[np.searchsorted(uniq, date[rr, cc]), cc] = g.ar[rr, cc]
    return _pairwise_corr(x, min_overlap)[0]


def _cars(w: WindowCars) -> tuple[np.ndarray, np.ndarray]:
    sel = np.isfinite(w.car)
    return w.car[sel], sel


def _scar(w: WindowCars) -> tuple[np.ndarray, np.ndarray]:
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


def _test_cross_sectional_t(ctx: _Context, w: WindowCars):
    return _cross_sectional_t(_cars(w)[0])


def _aar_sd(g: GroupMatrix, sel: np.ndarray) -> tuple[int, float]:
    """Days with an estimation AAR and the standard deviation of that AAR series."""
    fast = _kernels("_groupkernels")
    if fast is not None and g.ar.shape[0] * int(sel.sum()) < fast.AAR_MIN_CELLS:
        fast = None               # numpy's temporaries fit in cache: it is as fast
    if fast is not None:          # one pass over the selected columns, no (D, P) temporaries
        s, cnt = fast.aar_sums(g, sel)
        with np.errstate(invalid="ignore", divide="ignore"):
            aar = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
    else:
        parts = [_row_means(np.where(_cols(g.is_est[r0:r1], sel), _cols(g.ar[r0:r1], sel),
                                     np.nan))
                 for r0, r1 in _row_blocks(*g.ar.shape)]
        aar = np.concatenate([a for a, _ in parts])
        cnt = np.concatenate([c for _, c in parts])
    aar = aar[cnt > 0]
    return len(aar), (float(aar.std(ddof=1)) if len(aar) >= 2 else _NAN)


def _test_bw_cda(ctx: _Context, w: WindowCars):
    """Brown & Warner's crude dependence adjustment. It takes the estimation window's AAR
    variance as the event window's, which real daily returns break (up to 7 % at 5 %,
    docs/size-power.md)."""
    x, sel = _cars(w)
    n = len(x)
    est = float(x.mean()) if n else _NAN
    T, sd = ctx.cached("bw_cda", sel, lambda: _aar_sd(ctx.group, sel))
    if n < 1 or T < 2:
        return est, _NAN, _NAN, _NAN, n
    if not sd > 0:
        return est, _NAN, float(T - 1), _NAN, n
    stat = est / (math.sqrt(w.length) * sd)
    return est, stat, float(T - 1), _t_p(stat, T - 1), n


def _aar_days(g: GroupMatrix, sel: np.ndarray) -> int:
    """Days with an estimation AAR over the selected pairs (BW's T), without the AARs: all a
    withheld bw_cda row needs (its dof)."""
    fast = _kernels("_groupkernels")
    if fast is not None:
        return fast.aar_days(g, sel)
    return int(sum(np.count_nonzero((_cols(g.is_est[r0:r1], sel)
                                     & np.isfinite(_cols(g.ar[r0:r1], sel))).any(axis=1))
                   for r0, r1 in _row_blocks(*g.ar.shape)))


def _withheld_bw_cda(ctx: _Context, w: WindowCars):
    """A withheld bw_cda row: :func:`_test_bw_cda`'s estimate, dof and n, no statistic (its
    AAR standard deviation is the costly part)."""
    x, sel = _cars(w)
    n = len(x)
    est = float(x.mean()) if n else _NAN
    if n < 1:
        return est, _NAN, _NAN, _NAN, n
    T = ctx.cached("bw_days", sel, lambda: _aar_days(ctx.group, sel))
    return est, _NAN, (float(T - 1) if T >= 2 else _NAN), _NAN, n


def _patell_parts(w: WindowCars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scar, sel = _scar(w)
    sel = sel & np.isfinite(w.dof) & (w.dof > 2)
    return scar[sel], w.dof[sel], sel


def _test_patell(ctx: _Context, w: WindowCars):
    """Patell (1976): exact under i.i.d. normal returns. Real daily returns' clustered, fat-tailed
    volatility makes sigma_hat a noisy measure of the event window's variance and the test
    over-rejects (6.4-7.4 % at 5 % on day 0, any N; docs/size-power.md); bmp does not."""
    s, dof, _ = _patell_parts(w)
    n = len(s)
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    z = float(s.sum() / math.sqrt(np.sum(dof / (dof - 2.0))))
    return float(s.mean()), z, _NAN, _z_p(z), n


def _test_bmp(ctx: _Context, w: WindowCars):
    scar, sel = _scar(w)
    return _cross_sectional_t(scar[sel])


def _event_dates(g: GroupMatrix, w: WindowCars, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar dates of the selected pairs' event ARs inside the window: (dates, present)."""
    r0, r1 = np.searchsorted(g.days, [w.start, w.end + 1])
    d = g.date_rows(r0, r1, idx)
    ok = g.is_evt[r0:r1][:, idx] & np.isfinite(g.ar[r0:r1][:, idx]) & (d != _NO_DATE)
    return d, ok


def _mean_correlation(ctx: _Context, w: WindowCars, sel: np.ndarray) -> tuple[float, str]:
    """r-bar over the selected pairs (off-diagonal mean), see docs for the two modes; pairwise
    up to ``kp_exact_max`` pairs, from per-date sums above. Returns (r-bar, note). Once per
    window and set of pairs: kp_patell and kp_bmp ask for the same one."""
    return ctx.cached(("rbar", id(w)), sel, lambda: _mean_correlation_of(ctx, w, sel))


def _mean_correlation_of(ctx: _Context, w: WindowCars, sel: np.ndarray) -> tuple[float, str]:
    n = int(sel.sum())
    if n < 2:
        return _NAN, ""
    if n > ctx.kp_exact_max:
        note = f"KP r-bar from date sums (n > {ctx.kp_exact_max})"
        return _date_sums_rbar(ctx, w, sel), note
    r = ctx.corr(sel)
    if ctx.kp_mode == "estimation":
        total = ctx.cached("kp_total", sel, lambda: float(r.sum()))
        return float((total - np.trace(r)) / (n * (n - 1.0))), ""
    # overlap: sum_ij r_ij c_ij / sqrt(n_i n_j) = sum_d v_d' R v_d, v_di = [pair i has date d]
    # / sqrt(n_i) over the window's event dates d; minus the diagonal (r_ii w_ii)
    d, ok = _event_dates(ctx.group, w, np.flatnonzero(sel))
    uniq = np.unique(d[ok])
    own = ok.sum(axis=0)
    v = np.zeros((len(uniq), n))
    rr, cc = np.nonzero(ok)
    v[np.searchsorted(uniq, d[rr, cc]), cc] = 1.0 / np.sqrt(own[cc])
    total = float(np.sum((v @ r) * v))
    return float((total - np.diag(r)[own > 0].sum()) / (n * (n - 1.0))), ""


@dataclass
class _DateSums:
    """Window-independent inputs of the date-sums r-bar for one selection of pairs: the root
    matrix's z (not copied: a selection is its rows), and where the selection's dates lie."""

    z: object               # the root's z (P_root, T_cal): a sparse csr on the numpy path;
    #                         on the kernel path `_groupkernels.ZRows`, z computed on the fly
    rows: np.ndarray        # (n,) the selection's rows of z
    q: np.ndarray           # (n,) sum of squares of each selected row of z (its own "r_ii")
    d0: int                 # the selection's first date (a column of z; a day number: ZRows)
    width: int              # and its number of date columns

    @property
    def total_est(self) -> float:
        """sum_t (sum_i z_it)^2 over the selection: the "estimation" mode's double sum."""
        if not hasattr(self.z, "indptr"):       # ZRows: the same column sums, in row order
            from eventstudy import _groupkernels     # loaded already: it made the ZRows
            col_sums = _groupkernels.date_sums_cols(self.z, self.rows, self.d0, self.width)
            return float(col_sums @ col_sums)
        z = self.z[self.rows]
        col_sums = np.bincount(z.indices - self.d0, weights=z.data, minlength=self.width)
        return float(col_sums @ col_sums)


def _date_sums_base(g: GroupMatrix, sel: np.ndarray, min_overlap: int) -> _DateSums:
    """Each pair's estimation residuals as a sparse (pair x calendar date) matrix z, scaled so
    that sum_t z_it z_jt is the Pearson correlation r_ij when both pairs have every date.

    z_it = (e_it - mean_i) / sd_i / (sqrt(S_i) c_i): sd_i with divisor T_i (its residuals), S_i
    its dated estimation rows, c_i = T_i / S_i its coverage. Without gaps z_i has unit norm.
    With independent gaps two pairs sharing an estimation span have about S c_i c_j common
    dates, which the c's divide out. Pairs with fewer than ``min_overlap`` residuals (or none
    varying) get z = 0, as their r_ij are 0 on the exact path.

    z_i depends on pair i alone: it is built once for the root matrix (`_date_sums_rows`) and a
    selection is a set of its rows, its date columns counted from the selection's first date.
    The kernel path never builds z (1.4 GB at 500,000 pairs): it keeps each pair's mean and
    scale and recomputes z_i from the root's ``ar`` where a sum reads it.
    """
    z_all = g.per_pair(f"kp-z-{min_overlap}", lambda root: _date_sums_rows(root, min_overlap))
    rows = g.root_cols(sel)
    if not isinstance(z_all, tuple):            # the kernel path's ZRows: dates per pair
        first, last = z_all.first[rows], z_all.last[rows]
        has = first <= last
        d0 = int(first[has].min()) if has.any() else 0
        width = int(last[has].max()) - d0 + 1 if has.any() else 0
        return _DateSums(z_all, rows, z_all.q[rows], d0, width)
    z_all, q_all = z_all
    starts, ends = z_all.indptr[rows], z_all.indptr[rows + 1]
    has = ends > starts
    if has.any():
        # a row's entries are in date order: its first and last are its date range
        d0 = int(z_all.indices[starts[has]].min())
        width = int(z_all.indices[ends[has] - 1].max()) - d0 + 1
    else:
        d0 = width = 0
    return _DateSums(z_all, rows, q_all[rows], d0, width)


def _date_sums_rows(g: GroupMatrix, min_overlap: int):
    """z (csr, one row per pair, columns = day number - the first) and q of every pair of
    ``g``, built a block of pairs at a time (the transposes stay small), into arrays
    allocated once (a first pass counts each pair's entries). The kernel path returns a
    `_groupkernels.ZRows` instead: z's per-pair mean, scale and q, no z."""
    fast = _kernels("_groupkernels")
    if fast is not None:
        return fast.date_sums_rows(g, min_overlap)
    from scipy import sparse
    D, P = g.ar.shape
    step = max(1, (1 << 22) // max(D, 1))
    blocks = [(c, min(c + step, P)) for c in range(0, P, step)]

    def dated_ok(c0, c1):
        # pairs as rows (contiguous), so that a pair's entries are consecutive, in date order
        date = np.ascontiguousarray(g.date_rows(0, D, np.arange(c0, c1)).T)
        dated = np.ascontiguousarray(g.is_est[:, c0:c1].T) & (date != _NO_DATE)
        ar = np.ascontiguousarray(g.ar[:, c0:c1].T)
        return date, dated, dated & np.isfinite(ar), ar

    counts = np.zeros(P, np.int64)
    d_min, d_max = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for c0, c1 in blocks:
        date, _, ok, _ = dated_ok(c0, c1)
        counts[c0:c1] = ok.sum(axis=1)
        if ok.any():
            d_min, d_max = min(d_min, int(date[ok].min())), max(d_max, int(date[ok].max()))
    d0 = d_min if counts.sum() else 0
    width = d_max - d0 + 1 if counts.sum() else 0
    indptr = np.concatenate([[0], np.cumsum(counts)])
    nnz = int(indptr[-1])
    data = np.empty(nnz)
    indices = np.empty(nnz, dtype=np.int32 if width < 2 ** 31 and nnz < 2 ** 31 else np.int64)
    qs = np.zeros(P)
    for c0, c1 in blocks:
        date, dated, ok, ar = dated_ok(c0, c1)
        T = ok.sum(axis=1)
        S = dated.sum(axis=1)
        x = np.where(ok, ar, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.where(ok, x - (x.sum(axis=1) / np.maximum(T, 1))[:, None], 0.0)
            ss = np.einsum("ij,ij->i", dev, dev)
            scale = np.sqrt(S) / np.sqrt(ss * T)
        scale[~((T >= max(min_overlap, 2)) & (ss > 0) & np.isfinite(scale))] = 0.0
        lo, hi = indptr[c0], indptr[c1]
        data[lo:hi] = dev[ok] * np.repeat(scale, T)
        indices[lo:hi] = date[ok] - d0
        qs[c0:c1] = ss * scale * scale
    z = sparse.csr_matrix((data, indices, indptr), shape=(P, width))
    return z, qs


def _date_sums_rbar(ctx: _Context, w: WindowCars, sel: np.ndarray) -> float:
    """Kolari-Pynnonen r-bar with memory linear in pairs x days.

    sum_{i != j} r_ij w_ij with r_ij = sum_t z_it z_jt is a sum of squares of per-date sums:
    "estimation" mode (w = 1): sum_t (sum_i z_it)^2 - sum_i q_i. "overlap" mode (w_ij =
    sum_d v_di v_dj, v_di = 1/sqrt(n_i) when pair i has an event AR dated d in the window):
    sum_{d,t} (sum_i v_di z_it)^2 - sum_{i: n_i > 0} q_i. Pairs are first summed by their set
    of event dates (one set per event for a cross-section), so the work is one pass over z.
    """
    base = ctx.cached("kp_sums", sel, lambda: _date_sums_base(ctx.group, sel,
                                                               ctx.kp_min_overlap))
    n = int(sel.sum())
    if ctx.kp_mode == "estimation":
        return float((base.total_est - base.q.sum()) / (n * (n - 1.0)))
    d, ok = _event_dates(ctx.group, w, np.flatnonzero(sel))
    n_i = ok.sum(axis=0)
    patterns, pat = _unique_rows(np.where(ok, d, _NO_DATE).T)
    v = np.where(n_i > 0, 1.0 / np.sqrt(np.maximum(n_i, 1)), 0.0)
    if not hasattr(base.z, "indptr"):
        # the kernel path: per-pattern sums of z's rows computed from the root's ARs, no z
        from eventstudy import _groupkernels as fast     # loaded already: it made the ZRows
        total = fast.date_sums_total(base.z, base.rows, pat, len(patterns), v, base.d0,
                                     base.width, patterns, _NO_DATE)
        return float((total - base.q[n_i > 0].sum()) / (n * (n - 1.0)))
    from scipy import sparse
    # the selection's rows of z picked by the product (no copy of z): the same sums, in the
    # same order, as a product with those rows alone
    member = sparse.csr_matrix((v, (pat, base.rows)), shape=(len(patterns), base.z.shape[0]))
    G = np.ascontiguousarray(
        (member @ base.z).toarray()[:, base.d0:base.d0 + base.width])   # (patterns, T_cal)
    dates = np.unique(patterns[patterns != _NO_DATE])
    inc = np.zeros((len(patterns), len(dates)))
    pr, pc = np.nonzero(patterns != _NO_DATE)
    inc[pr, np.searchsorted(dates, patterns[pr, pc])] = 1.0
    S = inc.T @ G                                            # (event dates, T_cal)
    total = float(np.sum(S * S))
    return float((total - base.q[n_i > 0].sum()) / (n * (n - 1.0)))


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, axis=0, return_inverse=True)`` for an int64 (n, L) array, from one sort
    of a hash per row instead of a sort of the rows (checked: equal rows, else the slow way)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a.shape[0] == 0 or a.shape[1] == 0:
        u, inv = np.unique(a, axis=0, return_inverse=True)
        return u, inv.ravel()
    mult = np.array([0x9E3779B97F4A7C15 * (2 * k + 1) % (1 << 64) for k in range(a.shape[1])],
                    dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (a.view(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.ravel()
    reps = a[first]
    if not (reps[inv] == a).all():                          # a hash collision: never seen
        u, inv = np.unique(a, axis=0, return_inverse=True)
        return u, inv.ravel()
    order = np.lexsort(reps.T[::-1])                        # rows in lexicographic order
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return reps[order], rank[inv]


def _test_kp_patell(ctx: _Context, w: WindowCars):
    est, z, _, _, n = _test_patell(ctx, w)
    if n < 1 or np.isnan(z):
        return est, _NAN, _NAN, _NAN, n
    if n == 1:
        return est, z, _NAN, _z_p(z), n          # 1 + (N-1) r = 1
    rbar, note = _mean_correlation(ctx, w, _patell_parts(w)[2])
    denom = 1.0 + (n - 1) * rbar
    if not denom > 0:
        return est, _NAN, _NAN, _NAN, n, note
    zk = z / math.sqrt(denom)
    return est, zk, _NAN, _z_p(zk), n, note


def _withheld_kp_patell(ctx: _Context, w: WindowCars):
    """A withheld kp_patell row: the Patell estimate and n and the note saying which r-bar
    the statistic would use, without computing r-bar."""
    est, z, _, _, n = _test_patell(ctx, w)
    if n < 2 or np.isnan(z):
        return est, _NAN, _NAN, _NAN, n
    note = f"KP r-bar from date sums (n > {ctx.kp_exact_max})" if n > ctx.kp_exact_max else ""
    return est, _NAN, _NAN, _NAN, n, note


def _test_kp_bmp(ctx: _Context, w: WindowCars):
    est, t, dof, _, n = _test_bmp(ctx, w)
    if n < 2 or np.isnan(t):
        return est, _NAN, dof, _NAN, n
    rbar, note = _mean_correlation(ctx, w, _scar(w)[1])
    denom = 1.0 + (n - 1) * rbar
    if not (denom > 0 and rbar < 1):
        return est, _NAN, dof, _NAN, n, note
    tk = t * math.sqrt((1.0 - rbar) / denom)
    return est, tk, dof, _t_p(tk, dof), n, note


def _window_rows(ctx: _Context, w: WindowCars) -> np.ndarray:
    d = ctx.group.days
    return (d >= w.start) & (d <= w.end)


def _test_corrado_rank(ctx: _Context, w: WindowCars):
    _, sel = _cars(w)
    n = int(sel.sum())
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    # a pair's ranks are its own (column-wise): rank every pair of the root once, slice
    ranks, m = ctx.group.per_pair("corrado-ranks", _root_ranks)

    def base():                 # the positions (pairs x 8 bytes each) only when not cached
        every = ctx.group.root_cols(np.ones(len(sel), bool))
        return _corrado_base(ranks, m, ctx.group.root_cols(sel),
                             _Everyone(ctx, "corrado-all", ranks, m, every, sel))

    u = ctx.cached("corrado", sel, base)
    est, stat, _ = _rank_statistic(u, _window_rows(ctx, w))
    return est, stat, _NAN, _z_p(stat), n


#: with the kernels, a set of at least this many pairs that lacks at most 1/8 of its group's
#: takes the group's daily rank sums less the missing pairs' (a window's set lacks a few)
_SUBTRACT_MIN = 2048


@dataclass
class _Everyone:
    """The daily sums of scaled ranks over every pair of a group (cached in the context) and
    the pairs a selection lacks: its sums are theirs less the lacking pairs' ones."""

    ctx: _Context
    name: str
    ranks: np.ndarray
    m: np.ndarray
    every: np.ndarray       # positions of all the group's pairs in ``ranks``
    sel: np.ndarray         # the selection (a mask over the group's pairs)

    def sums(self, kernels) -> tuple[np.ndarray, np.ndarray]:
        s_all, n_all = self.ctx.cached(self.name, _NO_SEL, lambda: kernels.day_sums(
            self.ranks, self.m, self.every))
        s_out, n_out = kernels.day_sums(self.ranks, self.m, self.every[~self.sel])
        return s_all - s_out, n_all - n_out


def _corrado_base(ranks: np.ndarray, m: np.ndarray, cols: np.ndarray,
                  everyone: _Everyone | None = None) -> _RankBase:
    """``_rank_base(ranks[:, cols] / (m[cols] + 1) - 0.5)``, a block of days at a time (no
    (days x pairs) float64 copy; each day's mean is summed alone, in the same order); with
    the kernels, one pass over the selected pairs' rows of the pair-major ranks, or, for a
    big set lacking few of its group's pairs (``everyone``), the group's sums less theirs."""
    kernels = _kernels("_rankkernels")
    if kernels is not None:
        lacking = 0 if everyone is None else len(everyone.sel) - len(cols)
        if everyone is not None and 0 < lacking and len(cols) >= _SUBTRACT_MIN \
                and 8 * lacking <= len(cols):
            s, n_t = everyone.sums(kernels)
        else:
            s, n_t = kernels.day_sums(ranks, m, cols)
        with np.errstate(invalid="ignore", divide="ignore"):
            kbar = np.where(n_t > 0, s / np.maximum(n_t, 1), np.nan)
    else:
        scale = m[cols] + 1.0
        parts = [_row_means(_rank_values(ranks[r0:r1][:, cols]) / scale - 0.5)
                 for r0, r1 in _row_blocks(ranks.shape[0], len(cols))]
        kbar = np.concatenate([k for k, _ in parts]) if parts else np.zeros(0)
        n_t = np.concatenate([n for _, n in parts]) if parts else np.zeros(0, np.int64)
    used = n_t > 0
    T = int(used.sum())
    s2 = float(np.sum(n_t[used] * kbar[used] ** 2) / T) if T else _NAN
    return _RankBase(kbar, n_t, used, T, s2)


def _rank_values(ranks: np.ndarray) -> np.ndarray:
    """Stored ranks as numbers: float32 ranks as they are (NaN: not ranked), uint16 twice the
    ranks (the kernels' Corrado and CZ ranks, :func:`_root_ranks`) as ``0.5 * h`` in float64
    (exactly the float32 rank promoted), NaN where 0."""
    if ranks.dtype != np.uint16:
        return ranks
    out = ranks.astype(np.float64)
    out[ranks == 0] = np.nan
    out *= 0.5
    return out


def _restandardized(sar: np.ndarray) -> np.ndarray:
    """Each day's (row's) SARs divided by their cross-sectional standard deviation (ddof 1);
    a day with fewer than 2 pairs drops out (NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sar / _day_sd(sar)[:, None]
    out[~np.isfinite(out)] = np.nan
    return out


def _day_sd(sar: np.ndarray) -> np.ndarray:
    """Each row's standard deviation over its finite entries (ddof 1; NaN below 2)."""
    m, k = _row_means(sar)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.where(np.isfinite(sar), (sar - m[:, None]) ** 2, 0.0).sum(axis=1) / (k - 1)
        return np.where(k >= 2, np.sqrt(ss), np.nan)


def _sar(g: GroupMatrix, sel: np.ndarray, r0: int, r1: int,
         rows: np.ndarray | None = None) -> np.ndarray:
    """Standardized ARs of the selected pairs on days [r0, r1) (only where ``rows``, when
    given)."""
    ar = _cols(g.ar[r0:r1], sel)
    if rows is not None:
        ar = np.where(_cols(rows[r0:r1], sel), ar, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        sar = ar / np.sqrt(g.var_rows(r0, r1, sel))
    sar[~np.isfinite(sar)] = np.nan
    return sar


def _restandardized_sar(g: GroupMatrix, sel: np.ndarray,
                        rows: np.ndarray | None = None) -> np.ndarray:
    """``_restandardized`` SARs of the selected pairs as one (days x pairs) C-ordered array,
    built a block of days at a time (a day is re-standardized by its own row alone)."""
    D, n = len(g.days), int(sel.sum())
    out = np.empty((D, n))
    for r0, r1 in _row_blocks(D, n):
        out[r0:r1] = _restandardized(_sar(g, sel, r0, r1, rows))
    return out


def _cz_group_ranks(g: GroupMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Corrado-Zivney's ranks of every pair of the group, as float32 (halves: exact) with each
    pair's number of ranked days: each day's sd over every pair first (a block of days at a
    time), then the re-standardized SARs a block of pairs at a time (never a (days x pairs)
    float64 array: 1 GB at 500,000 pairs). ``ranks / (m + 1) - 0.5`` are its scaled ranks.
    The kernels' are uint16 twice the ranks when they fit (see :func:`_root_ranks`)."""
    kernels = _kernels("_rankkernels")
    if kernels is not None:
        return kernels.cz_ranks(g)
    D, N = len(g.days), len(g.keys)
    every = np.ones(N, bool)
    sd = [_day_sd(_sar(g, every, r0, r1)) for r0, r1 in _row_blocks(D, N)]
    sd = np.concatenate(sd) if sd else np.zeros(0)
    if D >= 1 << 22:
        raise ValueError("too many days for float32 ranks")
    ranks = np.empty((N, D), dtype=np.float32).T     # pair-major, as _column_ranks' own
    m = np.zeros(N, np.int64)
    step = max(1, (1 << 22) // max(D, 1))
    for c in range(0, N, step):
        cols = np.zeros(N, bool)
        cols[c:c + step] = True
        with np.errstate(invalid="ignore", divide="ignore"):
            x = _sar(g, cols, 0, D) / sd[:, None]
        x[~np.isfinite(x)] = np.nan
        ranks[:, c:c + step] = _column_ranks(x)
        m[c:c + step] = np.isfinite(x).sum(axis=0)
    return ranks, m


def _test_cz_rank(ctx: _Context, w: WindowCars):
    """Corrado-Zivney: every day re-standardized over every pair of the group observed that
    day and each pair's ranks taken once per group (not per window's set of pairs); a window
    averages its own pairs' ranks (the same numbers as a per-window re-standardization when
    every window has every pair)."""
    _, sel = _cars(w)
    n = int(sel.sum())
    if n < 2:
        return _NAN, _NAN, _NAN, _NAN, n
    ranks, m = ctx.cached("cz-group", _NO_SEL, lambda: _cz_group_ranks(ctx.group))
    base = ctx.cached("cz", sel, lambda: _corrado_base(
        ranks, m, np.flatnonzero(sel),
        _Everyone(ctx, "cz-all", ranks, m, np.arange(len(sel)), sel)))
    est, stat, _ = _rank_statistic(base, _window_rows(ctx, w))
    return est, stat, _NAN, _z_p(stat), n


@dataclass
class _GrankBase:
    """Window-independent part of GRANK for a group: every pair's estimation SARs, each day
    re-standardized over every pair of the group observed that day, and their ranks."""

    sar: np.ndarray | None  # (T, N) re-standardized estimation SARs, days with any pair
    ranks: np.ndarray       # (T, N) float32 average ranks within each pair (exact: halves);
    #                         the kernels': uint16 twice the ranks when they fit (0: none)
    m: np.ndarray           # (N,) estimation SARs per pair
    inv: np.ndarray         # (N,) 1 / (m + 2): the scale of ranks among m + 1 values
    # the kernels' form (sar is None): a window needs only the ranks and where its v falls
    # among each pair's sorted SARs, found for the context's windows while the base sorts
    # them: windows[k]'s v is above lt[k, i] (at least le[k, i]) of pair i's SARs
    windows: list = field(default_factory=list)
    lt: np.ndarray | None = None    # (len(windows), N) int32
    le: np.ndarray | None = None    # (len(windows), N) int32


def _grank_v(w: WindowCars) -> tuple[np.ndarray, int, np.ndarray | None]:
    """A window's GRANK pairs (a mask), their number and their re-standardized SCARs v (the
    CAR's one observation); v None when the test has no statistic (n < 2, sd not > 0)."""
    scar, sel = _scar(w)
    n = int(sel.sum())
    if n < 2:
        return sel, n, None
    s = scar[sel]
    sd = float(s.std(ddof=1))
    if not sd > 0:
        return sel, n, None
    return sel, n, s / sd


def _grank_vs(windows: Sequence[WindowCars], N: int) -> tuple[list, np.ndarray]:
    """The windows that have a GRANK statistic and their v as rows of a (W, N) array (NaN on
    the pairs a window lacks: never read), a window at a time."""
    have, vs = [], np.empty((len(windows), N))
    for w in windows:
        sel, _, v = _grank_v(w)
        if v is not None:
            row = vs[len(have)]
            row.fill(np.nan)
            row[sel] = v
            have.append(w)
    return have, vs[:len(have)]


def _grank_base(g: GroupMatrix, windows: Sequence[WindowCars] = ()) -> _GrankBase:
    """Estimation-window SARs of every pair of the group, each day re-standardized by its
    cross-sectional sd as the CAR is (see docs), and their average ranks within each pair,
    ranked a block of pairs at a time. With the kernels, the ranks a (T, N) view of a
    pair-major array, built a chunk of pairs at a time, and, instead of the SARs, where each
    of ``windows``' v falls among each pair's (see ``_GrankBase.windows``)."""
    kernels = _kernels("_rankkernels")
    if kernels is not None:
        wins, vs = _grank_vs(windows, len(g.keys))
        ranks, m, lt, le = kernels.grank_base(g, vs)
        return _GrankBase(None, ranks, m, 1.0 / (m + 2.0), wins, lt, le)
    sar = _restandardized_sar(g, np.ones(len(g.keys), bool), g.is_est)
    keep = np.isfinite(sar).any(axis=1)
    run = np.flatnonzero(keep)
    if len(run) and run[-1] - run[0] + 1 == len(run):
        sar = sar[run[0]:run[-1] + 1]          # the estimation days: a view, not a copy
    else:
        sar = sar[keep]
    T, n = sar.shape
    m = np.isfinite(sar).sum(axis=0)
    if T >= 1 << 22:
        raise ValueError("too many days for float32 ranks")
    ranks = np.empty((n, T), dtype=np.float32).T     # pair-major, as _column_ranks' own
    step = max(1, (1 << 22) // max(T, 1))
    for c in range(0, n, step):
        ranks[:, c:c + step] = _column_ranks(sar[:, c:c + step])
    return _GrankBase(sar, ranks, m, 1.0 / (m + 2.0))


def _grank_days(b: _GrankBase, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The selected pairs' count on each day and daily sum of rank_ti / (m_i + 2), a block of
    days at a time (each day summed pair by pair, as on one array)."""
    everyone = sel.all()
    inv = b.inv if everyone else b.inv[sel]
    n_t, rank_sum = [], []
    for r0, r1 in _row_blocks(*b.sar.shape):
        sar = b.sar[r0:r1] if everyone else b.sar[r0:r1][:, sel]
        ranks = b.ranks[r0:r1] if everyone else b.ranks[r0:r1][:, sel]
        n_t.append(np.isfinite(sar).sum(axis=1))
        r = ranks.astype(float)
        rank_sum.append(np.where(np.isfinite(r), r * inv, 0.0).sum(axis=1))
    if not n_t:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(n_t), np.concatenate(rank_sum)


def _grank_moved(b: _GrankBase, sel: np.ndarray, v: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Insert v (the selected pairs' re-standardized SCARs) into each pair's ranked estimation
    SARs (average ranks for ties), M_i + 1 values: a SAR above v moves up one rank, a tie half
    a rank. Returns each day's sum of moves / (M_i + 2) and each pair's number of SARs above v;
    a block of days at a time (each day's product is its own; the column sums of halves are
    exact in any order)."""
    everyone = sel.all()
    if not everyone:                            # the other pairs: never above, never tied
        v_all = np.full(len(sel), np.inf)
        v_all[sel] = v
        v = v_all
    inv = b.inv if everyone else np.where(sel, b.inv, 0.0)
    moved = np.empty(b.sar.shape[0])
    up = np.zeros(b.sar.shape[1])
    for d0, d1 in _row_blocks(*b.sar.shape):
        above = (b.sar[d0:d1] > v).astype(float)
        tie = b.sar[d0:d1] == v
        if tie.any():
            above += 0.5 * tie
        moved[d0:d1] = above @ inv
        up += above.sum(axis=0)
    return moved, up


def _test_grank(ctx: _Context, w: WindowCars):
    """GRANK (Kolari & Pynnonen 2011) with the estimation SARs re-standardized and ranked once
    per group (every pair observed that day); a window uses its own pairs' ranks."""
    sel, n, v = _grank_v(w)
    if v is None:
        return _NAN, _NAN, _NAN, _NAN, n
    b = ctx.cached("grank-group", _NO_SEL, lambda: _grank_base(ctx.group, ctx.windows))
    everyone = sel.all()
    if b.sar is None:                           # the kernels' base: one pass over the ranks
        kernels = _kernels("_rankkernels")
        k = next((k for k, x in enumerate(b.windows) if x is w), None)
        if k is None:                           # not one of the context's: sort SARs again
            vs = np.full((1, len(sel)), np.nan)
            vs[0, sel] = v
            _, _, lt, le = kernels.grank_base(ctx.group, vs, rank=False)
            lt, le = lt[0], le[0]
        else:
            lt, le = b.lt[k], b.le[k]
        n_t, rank_sum, moved, up_sel = kernels.grank_days(lt, le, b.m, b.ranks, b.inv,
                                                          np.flatnonzero(sel))
        up = np.zeros(len(sel))
        up[sel] = up_sel
    else:
        n_t, rank_sum = ctx.cached("grank", sel, lambda: _grank_days(b, sel))
        moved, up = _grank_moved(b, sel, v)
    used = n_t > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = (rank_sum + moved) / n_t - 0.5
    r0 = b.m + 1.0 - up                         # v's own rank among the M_i + 1 values
    u0 = float(np.mean(r0 * b.inv - 0.5)) if everyone else \
        float(np.mean(r0[sel] * b.inv[sel] - 0.5))
    T = int(used.sum()) + 1
    if T < 3:
        return _NAN, _NAN, _NAN, _NAN, n
    s2 = float((np.sum(n_t[used] * ubar[used] ** 2) / n + u0 * u0) / T)
    if not s2 > 0:
        return u0, _NAN, float(T - 2), _NAN, n
    z = u0 / math.sqrt(s2)
    room = T - 1 - z * z
    t = math.copysign(math.inf, z) if room <= 0 else z * math.sqrt((T - 2) / room)
    return u0, t, float(T - 2), _t_p(t, T - 2), n


def _test_sign(ctx: _Context, w: WindowCars):
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


def _positive_share(g: GroupMatrix, sel: np.ndarray) -> float:
    """Mean over pairs of each pair's share of positive estimation ARs (NaN if none)."""
    frac, has = g.per_pair("positive-share", _positive_fractions)
    cols = g.root_cols(sel)
    frac = frac[cols][has[cols]]
    return float(frac.mean()) if len(frac) else _NAN


def _positive_fractions(g: GroupMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's share of positive estimation ARs, and whether it has any."""
    fast = _kernels("_groupkernels")
    if fast is not None:          # counts in one pass, no (D, P) temporaries
        m, pos = fast.positive_counts(g)
    else:
        m, pos = _positive_counts(g)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pos / m, m > 0


def _positive_counts(g: GroupMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's estimation ARs and positive ones, a block of pairs at a time."""
    m, pos = np.zeros(g.ar.shape[1], np.int64), np.zeros(g.ar.shape[1], np.int64)
    step = max(1, (1 << 22) // max(g.ar.shape[0], 1))
    for c in range(0, g.ar.shape[1], step):
        a = np.where(g.is_est[:, c:c + step], g.ar[:, c:c + step], np.nan)
        m[c:c + step] = np.isfinite(a).sum(axis=0)
        pos[c:c + step] = np.count_nonzero(a > 0, axis=0)    # NaN > 0 is False
    return m, pos


def _test_generalized_sign(ctx: _Context, w: WindowCars):
    x, sel = _cars(w)
    n = len(x)
    if n < 1:
        return _NAN, _NAN, _NAN, _NAN, 0
    p = ctx.cached("gsign", sel, lambda: _positive_share(ctx.group, sel))
    wpos = int((x > 0).sum())
    est = wpos / n
    if np.isnan(p):
        return est, _NAN, _NAN, _NAN, n
    if not 0 < p < 1:
        return est, _NAN, _NAN, _NAN, n
    z = (wpos - n * p) / math.sqrt(n * p * (1 - p))
    return est, z, _NAN, _z_p(z), n


def _test_wilcoxon(ctx: _Context, w: WindowCars):
    x, _ = _cars(w)
    est = float(np.median(x)) if len(x) else _NAN
    nz = x[x != 0]
    n = len(nz)
    if n < 1:
        return est, _NAN, _NAN, _NAN, 0
    a = np.abs(nz)
    ranks = _column_ranks(a[:, None])[:, 0]        # average ranks, as scipy's rankdata
    w_plus = float(ranks[nz > 0].sum())
    _, counts = np.unique(a, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24.0 - np.sum(counts ** 3 - counts) / 48.0
    z = (w_plus - n * (n + 1) / 4.0) / math.sqrt(var) if var > 0 else _NAN
    if n <= _WILCOXON_EXACT_MAX and len(counts) == n:
        # no ties: exact null distribution of W+ (what scipy's method="auto" does), cached by n
        cdf = _wilcoxon_cdf(n)
        w = int(round(w_plus))
        p = min(1.0, 2.0 * min(cdf[w], 1.0 - (cdf[w - 1] if w > 0 else 0.0)))
    elif n > 13 and var > 0:
        # scipy's "auto" is the normal approximation here (no continuity correction): our z
        p = _z_p(z)
    else:                                           # small, tied: scipy (imported only here)
        from scipy import stats
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


def _test_skew_t(ctx: _Context, w: WindowCars):
    """Hall's (1992) skewness-adjusted t with t(N - 1) p-values. Built for skewed CARs; on
    symmetric fat-tailed ones (daily CARs) the sample skewness moves with the mean and the
    test over-rejects (6-8 % at 5 %, any N; docs/size-power.md)."""
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
    return est, t, float(n - 1), _t_p(t, n - 1), n


def _test_bootstrap(ctx: _Context, w: WindowCars):
    x, sel = _cars(w)
    est, t, _, _, n = _cross_sectional_t(x)
    if n < 2 or np.isnan(t):
        return est, _NAN, _NAN, _NAN, n
    p = ctx.cached("bootstrap", _NO_SEL, lambda: _bootstrap_p(ctx))[id(w)]
    return est, t, _NAN, p, n


def _bootstrap_p(ctx: _Context) -> dict[int, float]:
    """Group bootstrap p-values of every window of the group, from one draw.

    Hall & Wilson (1991): resample the CARs centred at their mean (the null) with replacement,
    ``n_boot`` times, and count resampled |t| at least |t|. The draw is made once per group,
    for its N pairs: ``default_rng(seed).integers(0, N, (n_boot, N))`` (taken in row blocks,
    the same stream), applied to every window through count matrices: a resample's sum is
    counts @ y (with numba, `_groupkernels.bootstrap_counts` draws the same stream itself and
    forms the same counts chunk by chunk of pairs (a group of 512 pairs or more) or walks each
    resample's draws once for every window (a smaller one): the same resamples, their sums in
    another order, the same p-values (a hit is judged with a 1e-10 relative slack)). A window
    with all N pairs resamples them all (n = N). A window with fewer
    pairs (a pair without a CAR, or without an AR that day) uses, in each resample, the
    draws that fall on its own pairs: its resample size is then random (binomial, mean n_w:
    its number of pairs), and its resampled t uses that size. A resample of one repeated value
    (or of fewer than 2 draws) has no spread: its t is undefined and it is left out.
    """
    N = len(ctx.group.keys)
    n_of = [int(np.isfinite(w.car).sum()) for w in ctx.windows]
    wins = [w for w, n in zip(ctx.windows, n_of) if n == N and N >= 2]
    part = [w for w, n in zip(ctx.windows, n_of) if 2 <= n < N]
    n = N
    rng = np.random.default_rng(ctx.seed)
    step = max(1, (1 << 22) // max(n, 1))
    fast = _kernels("_groupkernels") if (wins or part) else None
    if wins:                      # windows with every pair
        x = np.column_stack([w.car[np.isfinite(w.car)] for w in wins])      # (n, W)
        mean = x.mean(axis=0)
        sd = x.std(axis=0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = mean / (sd / math.sqrt(n))
        y = x - mean                                                        # impose the null
        y2 = y * y if fast is None else None
        # tie classes of y (a resample of tied values is degenerate too)
        inverse = [np.unique(y[:, k], return_inverse=True)[1].ravel()
                   for k in range(y.shape[1])]
        if fast is None and any(inv.max() < n - 1 for inv in inverse):
            from scipy import sparse           # (only for tied values: ~15 ms to import)
        classes = [None if inv.max() == n - 1 else sparse.csr_matrix(
            (np.ones(n), (np.arange(n), inv)), shape=(n, int(inv.max()) + 1))
            for inv in (inverse if fast is None else ())]
        hits = np.zeros(y.shape[1], dtype=np.int64)
        kept = np.zeros(y.shape[1], dtype=np.int64)
    if part:                      # windows with some of the pairs: zeros on the others
        W = len(part)
        ok = np.column_stack([np.isfinite(w.car) for w in part])            # (N, W)
        okf = ok.astype(float)
        n_w = ok.sum(axis=0)
        mean_p = np.array([w.car[ok[:, k]].mean() for k, w in enumerate(part)])
        sd_p = np.array([w.car[ok[:, k]].std(ddof=1) for k, w in enumerate(part)])
        with np.errstate(invalid="ignore", divide="ignore"):
            t_p = mean_p / (sd_p / np.sqrt(n_w))
            thr_p = np.abs(t_p) * (1 - _REL_TOL)
        y_p = np.column_stack([np.where(ok[:, k], w.car - mean_p[k], 0.0)
                               for k, w in enumerate(part)])
        if fast is None:
            stacked = np.column_stack([y_p, y_p * y_p, okf])
        # tie classes over a window's own pairs; without ties each pair is its own class
        inverse_p = [np.unique(y_p[ok[:, k], k], return_inverse=True)[1].ravel()
                     for k in range(W)]
        classes_p = []
        for k in range(W if fast is None else 0):
            inv = inverse_p[k]
            if inv.max() == n_w[k] - 1:
                classes_p.append(None)
                continue
            from scipy import sparse as sp
            classes_p.append(sp.csr_matrix(
                (np.ones(n_w[k]), (np.flatnonzero(ok[:, k]), inv)),
                shape=(N, int(inv.max()) + 1)))
        hits_p = np.zeros(W, dtype=np.int64)
        kept_p = np.zeros(W, dtype=np.int64)
    if fast is not None:
        # numba: every window (all pairs or some) at once, no count matrices; the same
        # draws, resamples and tests as the loop below
        ys, members, cls, sds, thrs = [], [], [], [], []
        if wins:
            ys.append(y)
            members.append(np.ones(y.shape, np.uint8))
            cls.append(np.column_stack(inverse))
            sds.append(np.asarray(sd, dtype=float))
            with np.errstate(invalid="ignore"):
                thrs.append(np.abs(t) * (1 - _REL_TOL))
        if part:
            ys.append(y_p)
            members.append(ok.astype(np.uint8))
            cp = np.full((N, W), -1, dtype=np.int64)
            for k in range(W):
                cp[ok[:, k], k] = inverse_p[k]
            cls.append(cp)
            sds.append(np.asarray(sd_p, dtype=float))
            thrs.append(thr_p)
        h, kp = fast.bootstrap_counts(rng, n, ctx.n_boot, step, np.column_stack(ys),
                                      np.column_stack(members), np.column_stack(cls),
                                      np.concatenate(sds), np.concatenate(thrs), _REL_TOL)
        nf = y.shape[1] if wins else 0
        if wins:
            hits, kept = h[:nf], kp[:nf]
        if part:
            hits_p, kept_p = h[nf:], kp[nf:]
    for b0 in range(0, ctx.n_boot if (wins or part) and fast is None else 0, step):
        c = min(step, ctx.n_boot - b0)
        idx = rng.integers(0, n, size=(c, n))
        counts = None
        if wins:
            counts = np.bincount((idx + (np.arange(c) * n)[:, None]).ravel(),
                                 minlength=c * n).reshape(c, n).astype(float)
            s1 = counts @ y
            mb = s1 / n
            vb = (counts @ y2 - s1 * mb) / (n - 1)
            sb = np.sqrt(np.maximum(vb, 0.0))
            single = counts.max(axis=1) == n
            keep = (sb > _REL_TOL * sd) & ~single[:, None]
            for k, cls in enumerate(classes):
                if cls is not None:
                    keep[:, k] &= (counts @ cls).max(axis=1) < n
            with np.errstate(invalid="ignore", divide="ignore"):
                tb = mb / (sb / math.sqrt(n))
            hits += np.count_nonzero(keep & (np.abs(tb) >= np.abs(t) * (1 - _REL_TOL)), axis=0)
            kept += keep.sum(axis=0)
        if part:
            if counts is None:
                counts = np.bincount((idx + (np.arange(c) * n)[:, None]).ravel(),
                                     minlength=c * n).reshape(c, n).astype(float)
            # one pass over the counts: each resample's sums, sums of squares and size
            sums = counts @ stacked                                  # (c, 3W)
            s1, s2, k_b = sums[:, :W], sums[:, W:2 * W], sums[:, 2 * W:]
            with np.errstate(invalid="ignore", divide="ignore"):
                mb = s1 / k_b
                vb = (s2 - s1 * mb) / (k_b - 1)
                sb = np.sqrt(np.maximum(vb, 0.0))
                tb = mb / (sb / np.sqrt(k_b))
            keep = (k_b >= 2) & (sb > _REL_TOL * sd_p)
            # one pair (or tie class) only: the squared counts sum to the size squared; only
            # possible where the resample's largest count reaches the window's size
            top = counts.max(axis=1)[:, None] >= k_b
            if top.any():
                rows = np.flatnonzero(top.any(axis=1))
                sq = counts[rows] * counts[rows]
                keep[rows] &= ~((sq @ okf) == k_b[rows] * k_b[rows])
            for k, cls in enumerate(classes_p):
                if cls is not None:
                    cc = np.asarray(counts @ cls)
                    keep[:, k] &= (cc * cc).sum(axis=1) < k_b[:, k] * k_b[:, k]
            with np.errstate(invalid="ignore"):
                hits_p += np.count_nonzero(keep & (np.abs(tb) >= thr_p), axis=0)
            kept_p += keep.sum(axis=0)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if wins:
            p = np.where(kept > 0, (hits + 1) / (kept + 1), np.nan)
            out.update({id(w): float(pk) for w, pk in zip(wins, p)})
        if part:
            p = np.where(kept_p > 0, (hits_p + 1) / (kept_p + 1), np.nan)
            out.update({id(w): float(pk) for w, pk in zip(part, p)})
    return out


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
#: a withheld test's row (estimate, dof, n, note) without its statistic, where that is costly
_WITHHELD = {"bw_cda": _withheld_bw_cda, "kp_patell": _withheld_kp_patell}
#: tests that read each other's cached work: one owner
_SHARES = {"kp_patell": "kp", "kp_bmp": "kp"}
#: tests whose per-pair work is kept on the root matrix for every group (`GroupMatrix.per_pair`)
_KEPT_ON_ROOT = frozenset({"corrado_rank", "kp_patell", "kp_bmp", "generalized_sign"})


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------

def _check_options(tests, kp_correlation, n_boot) -> tuple[str, ...]:
    tests = tuple(tests)
    unknown = [t for t in tests if t not in _TESTS]
    if unknown:
        raise ValueError(f"unknown test(s): {', '.join(unknown)}; choose from {ALL_GROUP_TESTS}")
    if kp_correlation not in _KP_MODES:
        raise ValueError(f"kp_correlation must be one of {_KP_MODES}, got {kp_correlation!r}")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    return tests


def group_tests_matrix(group: GroupMatrix, windows: Sequence[WindowCars], *,
                       tests: Sequence[str] = ALL_GROUP_TESTS, n_boot: int = 2000,
                       seed: int = 0, kp_correlation: str = "overlap",
                       kp_min_overlap: int = KP_MIN_OVERLAP,
                       kp_exact_max: int = KP_EXACT_MAX,
                       min_n: Mapping[str, int] | None = None,
                       oversized: Iterable[str] | None = None) -> pd.DataFrame:
    """Every test in ``tests`` for every window of one group, from arrays.

    ``windows`` are :class:`WindowCars` aligned with ``group``'s columns (a pair with a NaN CAR
    is left out of that window). Options as in :func:`group_tests`; ``kp_exact_max`` is the
    largest group (pairs in the window) whose Kolari-Pynnonen r-bar is computed pairwise;
    ``min_n`` overrides :data:`MIN_N` (``{}`` computes every test at every N); ``oversized``
    overrides :data:`OVERSIZED` (``()`` reports every test).
    Returns :data:`GROUP_COLUMNS` (:data:`OUTPUT_COLUMNS` + ``note``), one row per window and
    test, windows in the given order, tests in the order of ``tests``.
    """
    tests = _check_options(tests, kp_correlation, n_boot)
    min_n = MIN_N if min_n is None else min_n
    withheld = set(OVERSIZED if oversized is None else oversized)
    P = len(group.keys)
    for w in windows:
        if any(np.shape(a) != (P,) for a in (w.car, w.car_var, w.dof, w.n_days)):
            raise ValueError(f"window ({w.start}, {w.end}) arrays must have shape ({P},)")
    ctx = _Context(group, int(n_boot), int(seed), kp_correlation, int(kp_min_overlap),
                   int(kp_exact_max), list(windows))
    # a test at a time over every window, its cached work dropped when no later test shares
    # it (the two KP tests share theirs): the peak is one test's work, not the battery's;
    # the tests whose per-pair work stays on the root matrix for the other groups run last,
    # so that the others' work is not allocated on top of it
    rows = {}
    run = sorted(range(len(tests)), key=lambda k: tests[k] in _KEPT_ON_ROOT)
    for at, k in enumerate(run):
        name = tests[k]
        ctx.test = _SHARES.get(name, name)
        test = _WITHHELD.get(name, _TESTS[name]) if name in withheld else _TESTS[name]
        for i, w in enumerate(windows):
            est, stat, dof, p, n, *note = test(ctx, w)
            note = note[0] if note else ""
            if 0 < n < min_n.get(name, 0):
                stat, p = _NAN, _NAN
                note = f"needs N >= {min_n[name]} pairs (N = {n}): {_MIN_N_WHY[name]}"
            elif name in withheld and n > 0:
                stat, p = _NAN, _NAN
                note = _join(f"not reported: {OVERSIZED[name]}{_OVERSIZED_WHERE}; "
                             "report_oversized_tests = true shows it", note)
            elif name in OVERSIZED and n > 0 and not math.isnan(p):
                note = _join(f"{OVERSIZED[name]}{_OVERSIZED_WHERE}", note)
            rows[i, k] = (w.start, w.end, name, est, stat, dof, p, n, note)
        if ctx.test not in {_SHARES.get(tests[j], tests[j]) for j in run[at + 1:]}:
            ctx.release({ctx.test})
    return _frame([rows[i, k] for i in range(len(windows)) for k in range(len(tests))],
                  GROUP_COLUMNS)


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def group_tests(panel: pd.DataFrame, cars: pd.DataFrame, windows: Sequence[tuple[int, int]], *,
                tests: Sequence[str] = ALL_GROUP_TESTS, n_boot: int = 2000, seed: int = 0,
                kp_correlation: str = "overlap", kp_min_overlap: int = KP_MIN_OVERLAP,
                kp_exact_max: int = KP_EXACT_MAX,
                min_n: Mapping[str, int] | None = None,
                oversized: Iterable[str] | None = None) -> pd.DataFrame:
    """Run every test in ``tests`` for every window of one group of pairs (long frames in).

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
    kp_exact_max
        above this many pairs r-bar comes from per-date sums (memory linear in pairs x days;
        see docs/methods-tests.md), and the row's ``note`` says so.
    min_n
        smallest N per test (default :data:`MIN_N`); below it the row is NaN with a note.
    oversized
        tests withheld because they over-reject on daily returns at every N (default
        :data:`OVERSIZED`): NaN ``statistic``/``p_value`` and a note saying why; ``()`` reports
        them, each with a note saying how far it over-rejects.

    Returns
    -------
    DataFrame with columns :data:`GROUP_COLUMNS`, ``len(windows) * len(tests)`` rows. The
    ``note`` is empty unless a row needs explaining (NaN below a test's minimum N, which KP
    estimator was used).
    """
    _check_options(tests, kp_correlation, n_boot)
    group = _prepare_panel(panel)
    wins = _prepare_windows(cars, group, windows)
    return group_tests_matrix(group, wins, tests=tests, n_boot=n_boot, seed=seed,
                              kp_correlation=kp_correlation, kp_min_overlap=kp_min_overlap,
                              kp_exact_max=kp_exact_max, min_n=min_n, oversized=oversized)


def _frame(rows: list[tuple], columns: list[str] = OUTPUT_COLUMNS) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [()] * len(columns)
    dtypes = ("int64", "int64", object, "float64", "float64", "float64", "float64", "int64",
              object)
    return pd.DataFrame({name: np.array(c, dtype=dt)
                         for name, c, dt in zip(columns, cols, dtypes)})


def pair_bootstrap_matrix(est_ar: np.ndarray, car: np.ndarray,
                          n_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical two-sided p-values of many pairs' CARs against their own estimation windows.

    ``est_ar`` (P, T): each pair's estimation ARs on consecutive rel_days (NaN = missing; any
    NaN padding before or after changes nothing). ``car``, ``n_days`` (P, W). The reference set
    of a CAR summing ``n`` days is every sum of ``n`` consecutive ARs of its pair with none
    missing (M of them); ``p = (#{|S| >= |CAR|} + 1) / (M + 1)``. Returns ``(p, m)``, both
    (P, W); ``p`` is NaN and ``m`` 0 where the CAR is NaN, ``n_days < 1`` or M = 0.
    """
    est_ar = np.asarray(est_ar, dtype=float)
    car = np.asarray(car, dtype=float)
    n_days = np.asarray(n_days, dtype=float)
    if est_ar.ndim != 2 or car.ndim != 2 or car.shape != n_days.shape \
            or car.shape[0] != est_ar.shape[0]:
        raise ValueError(f"pair_bootstrap_matrix takes est_ar (P, T) and car, n_days (P, W); "
                         f"got {est_ar.shape}, {car.shape}, {n_days.shape}")
    P, T = est_ar.shape
    finite = np.isfinite(est_ar)
    c = np.zeros((P, T + 1))
    np.cumsum(np.where(finite, est_ar, 0.0), axis=1, out=c[:, 1:])
    bad = np.zeros((P, T + 1), dtype=np.int64)
    np.cumsum(~finite, axis=1, out=bad[:, 1:])
    with np.errstate(invalid="ignore"):
        length = np.where(np.isfinite(n_days) & (n_days >= 1), n_days, 0).astype(np.int64)
    todo = np.isfinite(car) & (length >= 1) & (length <= T)
    p = np.full(car.shape, np.nan)
    m = np.zeros(car.shape, dtype=np.int64)
    thr = np.abs(car) * (1 - _REL_TOL)
    for L in np.unique(length[todo]):
        valid = (bad[:, L:] - bad[:, :-L]) == 0
        # |sum| where no AR is missing, -1 (never >= a threshold, thresholds are >= 0) elsewhere
        a = np.where(valid, np.abs(c[:, L:] - c[:, :-L]), -1.0)
        pr, wc = np.nonzero(todo & (length == L))
        cnt = np.empty(len(pr), dtype=np.int64)
        step = max(1, (1 << 22) // a.shape[1])            # bounded memory: ~4M comparisons
        for i in range(0, len(pr), step):
            rows = pr[i:i + step]
            cnt[i:i + step] = np.count_nonzero(a[rows] >= thr[rows, wc[i:i + step]][:, None],
                                               axis=1)
        mm = valid.sum(axis=1)[pr]
        m[pr, wc] = mm
        with np.errstate(invalid="ignore", divide="ignore"):
            p[pr, wc] = np.where(mm > 0, (cnt + 1) / (mm + 1), np.nan)
    return p, m


def pair_bootstrap(panel_one_pair: pd.DataFrame, cars_one_pair: pd.DataFrame) -> pd.DataFrame:
    """Empirical two-sided p-value of each CAR of one pair against its estimation window.

    The reference distribution is every sum of ``n`` consecutive estimation-window ARs
    (overlapping windows; consecutive in rel_day, a window touching a missing AR is skipped),
    where ``n`` is the CAR's ``n_days`` (= the window length when no AR is missing).
    ``p = (#{|S_m| >= |CAR|} + 1) / (M + 1)``. Columns as :data:`OUTPUT_COLUMNS` with
    ``test = "bootstrap"``, ``estimate = statistic = car``, ``dof`` NaN and ``n = M``.
    Many pairs at once: :func:`pair_bootstrap_matrix`.
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
    car = cars_one_pair["car"].to_numpy(dtype=float)
    p, m = pair_bootstrap_matrix(x[None, :], car[None, :],
                                 cars_one_pair["n_days"].to_numpy(dtype=float)[None, :])
    rows = [(s, e, "bootstrap", c, c, _NAN, float(pv), int(mv))
            for s, e, c, pv, mv in zip(cars_one_pair["window_start"], cars_one_pair["window_end"],
                                       car.tolist(), p[0], m[0])]
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
