"""The study's arithmetic over the pairs table: fit, ARs, CARs, tests, as arrays, then frames.

`compute` takes aligned pairs and the panels, and returns the result frames. The work for one
model and one block of pairs (`_block`) is a pure function of plain arrays (a panel's arrays
gathered for the block's pairs): nothing in it reads files, the memo or a random generator.
Group tests take the (rel_day x pair) matrices straight from the blocks
(`inference.GroupMatrix`), not a long frame.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import functools
import itertools
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from eventstudy import fastpath
from eventstudy import fit as bfit
from eventstudy import inference
from eventstudy.executors import (InProcess, Progress, kernel_map, kernel_threads,
                                  n_tasks, side_by_side, thread_buffer)
from eventstudy.models import regressor_names
from eventstudy.panel import DerivedColumns

STOPPED_SESSIONS = 5        # a last bar this far before the panel's: the security stopped
BLOCK_PAIRS = 20_000        # pairs gathered at once: (pairs x days) arrays stay ~50 MB each
#: past this many AR rows (pairs x models x plot/event window days; about 150 bytes each in
#: memory) the rows go to a Parquet dataset on disk (`eventstudy.store`), not a frame;
#: [engine] ar_in_memory_rows overrides it
AR_IN_MEMORY_ROWS = 5_000_000
#: rank tests rank the estimation days and the event windows' days only, never the wider
#: plot window (a display setting): issue #11, item 4
RANK_EVENT_SPAN_ONLY = True

AR_COLUMNS = ["event_id", "series", "model", "date", "rel_day", "return", "simple_return",
              "benchmark_return", "expected_return", "abnormal_return", "ar_se", "ar_t", "car_path",
              "car_path_se", "span", "gap", "benchmark_contaminated"]
CAR_COLUMNS = ["event_id", "series", "model", "window_start", "window_end", "car", "se", "t_stat",
               "dof", "p_value", "n_est", "n_days", "n_excluded", "sigma", "car_simple",
               "bhar", "car_var", "day0", "note"]
AAR_COLUMNS = ["group", "model", "rel_day", "n", "aar", "aar_se", "caar", "caar_se"]
PANEL_COLUMNS = ["event_id", "series", "model", "phase", "rel_day", "date", "abnormal_return",
                 "ar_var", "sigma2", "dof", "n_est"]
RATIO_TESTS = ("t", "cross_sectional_t", "bw_cda", "bmp", "kp_bmp")
TEST_COLUMNS = ["group", "model", "event_id", "series", "window_start", "window_end", "test",
                "estimate", "se", "statistic", "dof", "p_value", "n", "note"]


@dataclass
class Output:
    ar: pd.DataFrame
    car: pd.DataFrame
    tests: pd.DataFrame
    aar: pd.DataFrame
    skipped: pd.DataFrame
    lazy_panel: "_LazyPanel"
    reuse: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def panel(self) -> pd.DataFrame:
        """The long inference input (estimation residuals and event ARs), built on demand."""
        return self.lazy_panel.frame()


def pair_span(config) -> tuple[int, int]:
    """First and last day, relative to day 0, that any part of a pair's study reads."""
    return (min(config.estimation_window[0], config.plot_window[0], config.event_span[0]),
            max(config.plot_window[1], config.event_span[1]))


def window_span(config) -> tuple[int, int]:
    """The days of the AR table: the plot window and every event window."""
    return (min(config.plot_window[0], config.event_span[0]),
            max(config.plot_window[1], config.event_span[1]))


def test_windows(config) -> list[tuple[int, int]]:
    span = config.event_span
    windows = list(config.event_windows) + [(d, d) for d in range(span[0], span[1] + 1)]
    return list(dict.fromkeys(windows))


# ---------------------------------------------------------------------------------------------
# one model, one block of pairs: pure arrays
# ---------------------------------------------------------------------------------------------

@dataclass
class Block:
    """The gathered inputs of P pairs over the L days `rel` (lo .. hi of `pair_span`)."""
    rel: np.ndarray
    exists: np.ndarray       # (P, L)
    valid: np.ndarray
    ret: np.ndarray
    span: np.ndarray
    excluded: np.ndarray
    date: np.ndarray         # (P, L) datetime64[ns], NaT off the data
    regs: dict               # name -> (P, L)
    has: dict                # name -> (P,) bool
    d0: np.ndarray           # (P,) calendar position of day 0 (-1: outside the calendar)
    first: np.ndarray        # (P,) calendar position of the first / last bar
    last: np.ndarray
    bench_start: np.ndarray = None            # (P, L) int64 ns: the benchmark interval of
    bench_end: np.ndarray = None              #   each row's return (int64 min: none)
    flagged: np.ndarray = None                # (P, L) days the data checks flagged
    flag_text: np.ndarray = None              # (P,) why ("" where no day is flagged)
    calendar_dates: pd.DatetimeIndex = None   # session date of each calendar position
    benchmark_field: np.ndarray = None        # (P,) where the benchmark is configured
    data_end: int = -1                        # the panel's latest bar (calendar position)
    contaminated: np.ndarray = None           # (P, L) the rows' benchmark_contaminated, kept
    #                                           instead of bench_start/end (`_window_days`)

    def take(self, rows) -> "Block":
        """The block of pairs `rows` (same days)."""
        return Block(rel=self.rel, exists=self.exists[rows], valid=self.valid[rows],
                     ret=self.ret[rows], span=self.span[rows], excluded=self.excluded[rows],
                     date=self.date[rows], regs={k: v[rows] for k, v in self.regs.items()},
                     has={k: v[rows] for k, v in self.has.items()}, d0=self.d0[rows],
                     first=self.first[rows], last=self.last[rows],
                     flagged=self.flagged[rows], flag_text=self.flag_text[rows],
                     bench_start=self.bench_start[rows], bench_end=self.bench_end[rows],
                     calendar_dates=self.calendar_dates,
                     benchmark_field=self.benchmark_field[rows], data_end=self.data_end)


def window_block(b: Block, config) -> Block:
    """The block as the frames read it once its pairs are computed: the window rows only
    (copies, so that the (pairs x days) arrays of the whole span are freed: at 500k pairs each
    is ~1 GB). The dates of the whole span are derived from day 0 (`span_dates`)."""
    j = _window_slice(config, b.rel)
    cut = lambda a: np.ascontiguousarray(a[:, j])  # noqa: E731
    return Block(rel=b.rel[j], exists=cut(b.exists), valid=cut(b.valid), ret=cut(b.ret),
                 span=cut(b.span), excluded=cut(b.excluded), date=cut(b.date),
                 regs={k: cut(v) for k, v in b.regs.items()}, has=b.has, d0=b.d0,
                 first=b.first, last=b.last, bench_start=cut(b.bench_start),
                 bench_end=cut(b.bench_end), flagged=cut(b.flagged), flag_text=b.flag_text,
                 calendar_dates=b.calendar_dates, benchmark_field=b.benchmark_field,
                 data_end=b.data_end)


def span_dates(b: Block, s: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """(len(s), len(rel)) session dates at day 0 + rel (NaT off the calendar): what
    `gather` put in `date` wherever the pair has a row."""
    pos = b.d0[s][:, None] + rel[None, :]
    cal = b.calendar_dates.to_numpy().astype("datetime64[ns]")
    inside = (pos >= 0) & (pos < len(cal))
    return np.where(inside, cal[np.clip(pos, 0, max(len(cal) - 1, 0))],
                    np.datetime64("NaT", "ns"))


def gather(panel, cols: np.ndarray, d0: np.ndarray, rel: np.ndarray,
           excluded_rows: np.ndarray, flagged_rows: np.ndarray | None = None,
           flag_reasons: dict | None = None) -> Block:
    """The rows `rel` around each pair's day 0 from its security's column of the panel.

    The block's own securities are first copied out security-major (U x S, a few hundred
    columns), so that each pair's rows are read contiguously: gathering a pair's days straight
    from the (sessions x securities) panel touches one cache line per day."""
    S = panel.close.shape[0]
    r = (d0 - panel.offset)[:, None] + rel[None, :]
    inb = (r >= 0) & (r < S) & (d0 >= 0)[:, None]
    rc = np.clip(r, 0, max(S - 1, 0))
    nan = np.nan
    if S and 8 * len(rel) < S:          # a few days (the event windows): read them in place
        cc = np.broadcast_to(cols[:, None], rc.shape)

        def take(a):
            return a[rc, cc]
    elif S:
        ucols, local = np.unique(cols, return_inverse=True)
        flat = local.reshape(-1)[:, None] * S + rc

        def take(a):
            return np.ascontiguousarray(a[:, ucols].T).reshape(-1)[flat]
    else:
        def take(a):
            return np.zeros(r.shape, a.dtype)
    exists = inb & take(panel.exists)
    dates = panel.dates.to_numpy()
    flagged = inb & take(flagged_rows) if flagged_rows is not None else np.zeros(r.shape, bool)
    flag_text = _flag_text(panel, cols, rc, flagged, flag_reasons)
    none = np.iinfo(np.int64).min
    bench = [np.where(exists, side, none)
             for side in panel.bench_interval_at(rc, np.broadcast_to(cols[:, None], r.shape))]
    return Block(
        rel=rel, exists=exists, valid=exists & take(panel.valid),
        ret=np.where(exists, take(panel.ret), nan),
        span=np.where(exists, take(panel.span_columns), nan),
        excluded=inb & take(excluded_rows),
        date=np.where(exists, dates[rc], np.datetime64("NaT")),
        regs={k: np.where(exists, take(v), nan) for k, v in panel.regressors.items()},
        has={k: v[cols] for k, v in panel.has.items()},
        d0=d0, first=panel.offset + panel.first_row[cols],
        last=panel.offset + panel.last_row[cols], flagged=flagged, flag_text=flag_text,
        bench_start=bench[0], bench_end=bench[1],
        calendar_dates=panel.calendar_closes.index,
        data_end=int(panel.offset + panel.last_row.max()) if len(panel.last_row) else -1)


def _flag_message(panel, row: int, col: int, flag_reasons: dict | None) -> str:
    """Why a pair is skipped for the flagged cell (row, col) of its panel."""
    why = (flag_reasons or {}).get((panel.key, row, col), "flagged day")
    return f"data check: {why}, inside the pair's estimation or event window"


def _flag_text(panel, cols, rc, flagged, flag_reasons) -> np.ndarray:
    """(P,) why each pair is skipped for a flagged day in its rows ("" where none is)."""
    flag_text = np.full(len(cols), "", dtype=object)
    for k in np.flatnonzero(flagged.any(axis=1)):     # the few pairs around a flagged day
        j = int(np.argmax(flagged[k]))
        flag_text[k] = _flag_message(panel, int(rc[k, j]), int(cols[k]), flag_reasons)
    return flag_text


@dataclass
class Slab:
    """The securities of a block of pairs as security-major rows of their panel, (U, S)
    each: what the fused kernel reads in place. A `Block` copies (pairs x days) arrays
    instead, ~12 of them: at a million firm events that copy cost more than the fit.

    Pair p's day `rel[i]` is row `r0[p] + i` of row `col[p]` (outside 0..S-1: no row)."""
    rel: np.ndarray          # (L,) the days of `pair_span`
    ret: np.ndarray          # (U, S)
    span: np.ndarray
    valid: np.ndarray
    exists: np.ndarray
    excluded: np.ndarray
    regs: dict               # name -> (U, S): the regressors the models read
    col: np.ndarray          # (P,)
    r0: np.ndarray           # (P,)
    d0: np.ndarray           # (P,) calendar positions, as in `Block`
    first: np.ndarray
    last: np.ndarray
    has: dict                # name -> (P,) bool
    flag_text: np.ndarray    # (P,)
    calendar_dates: np.ndarray
    benchmark_field: np.ndarray = None
    data_end: int = -1

    # `slab` leaves the arrays a panel derives (span, a lone benchmark's rm) to be computed
    # when the kernel first reads them, on its thread: the driver cuts every block's slab
    # ahead of the kernels, and each would hold its (U, S) copies (800 MB at a million firm
    # events) until its turn

    def __getattr__(self, name):
        """A derived array, in this thread's buffer for it (reused slab after slab: the
        kernel of a thread's previous slab is done; another thread computes its own)."""
        later = self.__dict__.get("_later")
        if not later or name not in later:
            raise AttributeError(name)
        mine = _SCRATCH.__dict__.setdefault("derived", {})
        token = self.__dict__["_token"]
        if name not in mine or mine[name][0] != token:
            mine[name] = (token, later[name](thread_buffer))
        return mine[name][1]

    def __getstate__(self):
        """For another process: every array computed, none left to a function."""
        state = {k: v for k, v in self.__dict__.items() if k != "_later"}
        for name in self.__dict__.get("_later") or ():
            state[name] = getattr(self, name)
        return state

    def take(self, rows) -> "Slab":
        """The pairs `rows`, with only their own securities' rows: a task sent to a worker
        process carries its securities, not the whole block's (each of a block's tasks
        carried the whole block's slab before)."""
        used, col = np.unique(self.col[rows], return_inverse=True)
        own = lambda a: a[used]  # noqa: E731
        return dataclasses.replace(
            self, ret=own(self.ret), span=own(self.span), valid=own(self.valid),
            exists=own(self.exists), excluded=own(self.excluded),
            regs={k: own(v) for k, v in self.regs.items()}, col=col.reshape(-1),
            r0=self.r0[rows], d0=self.d0[rows],
            first=self.first[rows], last=self.last[rows],
            has={k: v[rows] for k, v in self.has.items()}, flag_text=self.flag_text[rows],
            benchmark_field=self.benchmark_field[rows])

    def block(self, rows) -> Block:
        """The (pairs x days) `Block` of the pairs `rows`, as `gather` builds it (for the few
        pairs the kernel leaves to the numpy path)."""
        S = self.ret.shape[1]
        r = self.r0[rows][:, None] + np.arange(len(self.rel))[None, :]
        inb = (r >= 0) & (r < S)
        flat = self.col[rows][:, None] * S + np.clip(r, 0, max(S - 1, 0))
        take = lambda a: inb & a.reshape(-1)[flat] if a.dtype == bool else np.where(  # noqa
            inb, a.reshape(-1)[flat], np.nan)
        exists = take(self.exists)
        none = np.full(r.shape, np.iinfo(np.int64).min, dtype=np.int64)
        cal = np.asarray(self.calendar_dates, dtype="datetime64[ns]")
        pos = self.d0[rows][:, None] + self.rel[None, :]
        date = np.where(exists, cal[np.clip(pos, 0, max(len(cal) - 1, 0))],
                        np.datetime64("NaT", "ns"))
        return Block(rel=self.rel, exists=exists, valid=exists & take(self.valid),
                     ret=np.where(exists, take(self.ret), np.nan),
                     span=np.where(exists, take(self.span), np.nan),
                     excluded=take(self.excluded), date=date,
                     regs={k: np.where(exists, take(v), np.nan) for k, v in self.regs.items()},
                     has={k: v[rows] for k, v in self.has.items()}, d0=self.d0[rows],
                     first=self.first[rows], last=self.last[rows], bench_start=none,
                     bench_end=none, flagged=np.zeros(r.shape, bool),
                     flag_text=self.flag_text[rows], calendar_dates=self.calendar_dates,
                     benchmark_field=self.benchmark_field[rows], data_end=self.data_end)


def slab(panel, cols: np.ndarray, d0: np.ndarray, rel: np.ndarray, excluded_rows: np.ndarray,
         regs: list, flagged_rows: np.ndarray | None = None,
         flag_reasons: dict | None = None) -> Slab:
    """The `Slab` of the pairs (cols, d0): their securities' rows of the panel (one
    transposed copy of each array the models read: ret, span, gaps, excluded rows and the
    regressors `regs`). `flagged_rows`: the keys col * S + row of the panel's flagged cells,
    sorted (`flag_keys`)."""
    S = panel.close.shape[0]
    ucols, local = np.unique(cols, return_inverse=True)
    if len(ucols) and ucols[-1] - ucols[0] + 1 == len(ucols):
        ucols = slice(int(ucols[0]), int(ucols[-1]) + 1)      # a view: one copy, not two
    t = lambda a: np.ascontiguousarray(a[:, ucols].T)  # noqa: E731
    r0 = np.where(d0 >= 0, d0 - panel.offset + rel[0], -2 * len(rel) - S)
    flag_text = np.full(len(d0), "", dtype=object)
    if flagged_rows is not None and len(flagged_rows):
        # flagged_rows: the flagged cells' keys col * S + row, sorted; each pair's first
        # flagged row inside its days, as `gather` finds it
        lo = np.clip(r0, 0, S)
        hi = np.clip(r0 + len(rel), 0, S)
        at = np.searchsorted(flagged_rows, cols * S + lo)
        key = flagged_rows[np.minimum(at, len(flagged_rows) - 1)]
        hit = (at < len(flagged_rows)) & (key < cols * S + hi) & (hi > lo)
        for k in np.flatnonzero(hit):
            row = int(key[k] - cols[k] * S)
            flag_text[k] = _flag_message(panel, row, int(cols[k]), flag_reasons)
    out = Slab(rel=rel, ret=t(panel.ret), span=None, valid=t(panel.valid),
               exists=t(panel.exists), excluded=t(excluded_rows), regs=None,
               col=local.reshape(-1), r0=r0.astype(np.int64), d0=d0,
               first=panel.offset + panel.first_row[cols],
               last=panel.offset + panel.last_row[cols],
               has={k: v[cols] for k, v in panel.has.items()}, flag_text=flag_text,
               calendar_dates=np.asarray(panel.calendar_closes.index, dtype="datetime64[ns]"),
               data_end=int(panel.offset + panel.last_row.max()) if len(panel.last_row)
               else -1)
    # the derived arrays (and the regressors, if one of them is derived) when first read,
    # each (U, S) in a buffer of the reading thread's (`Slab.__getattr__`)
    U = ucols.stop - ucols.start if isinstance(ucols, slice) else len(ucols)

    def derived(a, buffer, name):
        if not isinstance(a, DerivedColumns):
            return t(a)
        return a.columns_into(ucols, buffer(name, U * S)[:U * S].reshape(U, S).T).T
    span = panel.span_columns
    later = {"span": lambda buffer: derived(span, buffer, "span")}
    arrays = {k: panel.regressors[k] for k in regs}
    if any(isinstance(a, DerivedColumns) for a in arrays.values()):
        later["regs"] = lambda buffer: {k: derived(a, buffer, "reg:" + k)
                                        for k, a in arrays.items()}
    else:
        out.regs = {k: t(a) for k, a in arrays.items()}
    out.__dict__["_later"] = later
    out.__dict__["_token"] = next(_SLAB_TOKENS)
    for name in later:
        del out.__dict__[name]
    return out


_SLAB_TOKENS = itertools.count()


def flag_keys(flagged_rows: np.ndarray) -> np.ndarray:
    """The sorted keys col * S + row of the flagged cells of an (S, N) mask."""
    S = flagged_rows.shape[0]
    rr, cc = np.nonzero(flagged_rows)
    return np.sort(cc.astype(np.int64) * S + rr)


@dataclass
class PairArrays:
    """One model on P pairs: why a pair was skipped ("" = studied), or its numbers.

    This flat record is what frames, group matrices and the memo are drawn from; what can
    be derived from it and the pair's inputs is not stored (fitted = finite resid, ok =
    finite expected, AR = return - expected, running CAR = cumsum of the ARs)."""
    reason: np.ndarray       # (P,) object
    n_excluded: np.ndarray   # (P,) int
    sigma2: np.ndarray       # (P,)
    dof: np.ndarray          # (P,) float (NaN: skipped)
    n_est: np.ndarray        # (P,)
    resid: np.ndarray        # (P, L) estimation residuals on the fitted rows
    est_var: np.ndarray      # (P, L) their variances (sigma2, or GARCH h_t)
    expected: np.ndarray     # (P, W) window rows: expected return where the AR is defined
    ar_var: np.ndarray       # (P, W)
    path_var: np.ndarray     # (P, W)
    car: np.ndarray          # (P, n_windows) ... per event window
    var: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    bhar: np.ndarray
    n_days: np.ndarray
    n_gaps: np.ndarray
    waiting: np.ndarray
    boot_p: np.ndarray
    boot_m: np.ndarray

    SCALARS = ("n_excluded", "sigma2", "dof", "n_est")
    ARRAYS = ("resid", "est_var", "expected", "ar_var", "path_var", "car", "var", "se", "t",
              "p", "bhar", "n_days", "n_gaps", "waiting", "boot_p", "boot_m")

    resid_source = None      # when `resid` is None: a function that computes it again

    @classmethod
    def empty(cls, P: int, L: int, W: int, nw: int, est_var: bool = True,
              resid: bool = True) -> "PairArrays":
        """`est_var=False`: the variances of the estimation rows are derived, not stored
        (`est_variance`; least squares: sigma2 on every fitted row). `resid=False`: no
        residuals either (the caller sets `resid_source`, or fills `resid` itself)."""
        f = lambda *shape: np.full(shape, np.nan)  # noqa: E731
        return cls(np.full(P, "", dtype=object), np.zeros(P, np.int64), f(P), f(P), f(P),
                   f(P, L) if resid else None, f(P, L) if est_var else None, f(P, W),
                   f(P, W), f(P, W), *(f(P, nw) for _ in range(11)))

    def residuals(self, rows) -> np.ndarray:
        """(len(rows), L): the estimation residuals (NaN off the fitted rows); computed again
        from `resid_source` when the study did not keep them."""
        if self.resid is None:
            self.resid = self.resid_source()
            self.resid_source = None
        return self.resid[rows]

    def est_variance(self, rows) -> np.ndarray:
        """(len(rows), L): each fitted estimation row's variance (NaN elsewhere)."""
        if self.est_var is not None:
            return self.est_var[rows]
        return np.where(np.isfinite(self.residuals(rows)), self.sigma2[rows][:, None], np.nan)

    def take(self, rows) -> "PairArrays":
        return PairArrays(self.reason[rows], *(None if getattr(self, n) is None else
                                               getattr(self, n)[rows]
                                               for n in self.SCALARS + self.ARRAYS))

    def put(self, rows, other: "PairArrays") -> None:
        self.reason[rows] = other.reason
        for n in self.SCALARS + self.ARRAYS:
            if n == "est_var" and (self.est_var is None or other.est_var is None):
                if self.est_var is not None:
                    self.est_var[rows] = other.est_variance(slice(None))
                continue
            if n == "resid" and (self.resid is None or other.resid is None):
                continue             # not kept: `resid_source` computes the whole block
            getattr(self, n)[rows] = getattr(other, n)


@dataclass(frozen=True)
class PartitionConfig:
    """The few settings `study_block` reads: what a worker receives instead of the Config
    (no calendars, series tables or paths)."""
    estimation_window: tuple
    event_windows: tuple
    plot_window: tuple
    event_span: tuple
    min_estimation: int
    factors: tuple
    dimson_lags: int
    returns: str
    fast_models: tuple = ()     # the models whose blocks take the fused kernel, decided once
    #                             on the driver (every partition the same path: same numbers)

    @classmethod
    def of(cls, config, fast_models: tuple = ()) -> "PartitionConfig":
        return cls(**{f: getattr(config, f) for f in cls.__dataclass_fields__
                      if f != "fast_models"}, fast_models=tuple(fast_models))


def plain_block(b: Block) -> Block:
    """The block as a partition gets it: numpy arrays only (the session dates as
    datetime64, not a pandas index)."""
    if isinstance(b.calendar_dates, np.ndarray):
        return b
    return dataclasses.replace(b, calendar_dates=np.asarray(b.calendar_dates,
                                                             dtype="datetime64[ns]"))


def study_block(model: str, b: Block, config) -> PairArrays:
    """Skip reasons, fit, ARs, CARs and the pair bootstrap of one model for a block."""
    P = len(b.d0)
    e0, e1 = config.estimation_window
    w0, w1 = window_span(config)
    nw = len(config.event_windows)
    out = PairArrays.empty(P, len(b.rel), w1 - w0 + 1, nw)
    names = regressor_names(model, config.factors, config.dimson_lags)
    X = np.stack([b.span if n == "span" else b.regs[n] for n in names], axis=2) if names \
        else np.zeros(b.ret.shape + (0,))
    offset = b.regs["rm"] if model == "market_adjusted" else np.zeros(b.ret.shape)
    complete = np.isfinite(b.ret) & np.isfinite(X).all(axis=2) & np.isfinite(offset)
    in_est = (b.rel >= e0) & (b.rel <= e1)
    usable = in_est[None, :] & b.valid & (b.span == 1) & complete
    out.n_excluded[:] = (usable & b.excluded).sum(axis=1)
    est = usable & ~b.excluded
    n = est.sum(axis=1)
    reason = out.reason
    todo = _skip_rules(model, b, config, reason)
    few = todo & (n < config.min_estimation)
    reason[few] = _few_text(b, n, np.flatnonzero(few), config)
    todo &= ~few
    s = np.flatnonzero(todo)
    chosen = getattr(config, "fast_models", None)
    if len(s) and (model in chosen if chosen is not None else fastpath.use_fast(len(s), model)):
        s = s[~_study_fast(b, s, X, offset if model == "market_adjusted" else None, config,
                           out)]
    if not len(s):
        return out
    if model == "garch":
        fits = bfit.fit_garch(b.ret[s], X[s], est[s], names)
    elif model == "scholes_williams":
        fits = bfit.fit_scholes_williams(b.ret[s], b.regs["rm"][s], b.regs["rm_lag1"][s],
                                         b.regs["rm_lead1"][s], b.span[s], est[s])
    else:
        fits = bfit.fit_ols(b.ret[s] - offset[s], X[s], est[s])
    reason[s] = fits.reason
    j = slice(w0 - b.rel[0], w1 - b.rel[0] + 1)
    ab = bfit.abnormal_returns(fits, b.rel[j], b.ret[s, j], b.span[s, j], X[s, j],
                               offset[s, j], b.exists[s, j])
    last_rel = b.last[s] - b.d0[s]
    gap = b.exists[s, j] & ~b.valid[s, j]
    cars = [bfit.window_car(fits, ab, w, b.ret[s, j], X[s, j], b.span[s, j], gap,
                            b.exists[s, j], last_rel, config.returns)
            for w in config.event_windows]
    je = slice(e0 - b.rel[0], e1 - b.rel[0] + 1)
    stack = lambda name: np.stack([getattr(c, name) for c in cars], axis=1)  # noqa: E731
    car = stack("car")
    boot_p, boot_m = inference.pair_bootstrap_matrix(fits.resid[:, je], car,
                                                      stack("n_days").astype(float))
    good = fits.reason == ""
    g = s[good]
    out.sigma2[g], out.dof[g], out.n_est[g] = fits.sigma2[good], fits.dof[good], \
        fits.n_est[good]
    out.resid[g], out.est_var[g] = fits.resid[good], fits.est_var[good]
    out.expected[g], out.ar_var[g], out.path_var[g] = (ab.expected[good], ab.ar_var[good],
                                                       ab.path_var[good])
    for name in ("car", "var", "se", "t", "p", "bhar", "n_days", "n_gaps", "waiting"):
        getattr(out, name)[g] = stack(name)[good]
    out.boot_p[g], out.boot_m[g] = boot_p[good], boot_m[good]
    return out


def _skip_rules(model: str, b, config, reason: np.ndarray) -> np.ndarray:
    """Word the reasons of the pairs skipped before any fit (`b`: a Block or a Slab, for
    their per-pair fields), in order; the (P,) mask of the pairs left. The last rule, too few
    usable estimation days, needs the count: `_few_text`."""
    P = len(b.d0)
    e1 = config.estimation_window[1]
    names = regressor_names(model, config.factors, config.dimson_lags)
    needs = names + (["rm"] if model == "market_adjusted" else [])
    todo = np.ones(P, bool)

    def skip(mask, text):
        nonlocal todo
        mask = mask & todo
        if mask.any():
            reason[mask] = text(np.flatnonzero(mask)) if callable(text) else text
        todo &= ~mask

    skip(b.d0 < 0, "announcement outside the calendar's range")
    # after its last bar: data to come, unless the panel's other securities have bars well
    # past it (a delisting or a suspension: nothing will come, say so rather than "waiting")
    stopped = b.last < b.data_end - STOPPED_SESSIONS
    skip((b.d0 > b.last) & stopped, lambda i: [
        f"no bars after {_day(b, b.last[k])} (delisted or suspended: the other securities' "
        f"data run to {_day(b, b.data_end)}); day 0 is {_day(b, b.d0[k])}" for k in i])
    skip(b.d0 > b.last, lambda i: [f"waiting for data: day 0 is {_day(b, b.d0[k])}, "
                                   f"the last bar is {_day(b, b.last[k])}" for k in i])
    missing = {n_: ~b.has.get(n_, np.zeros(P, bool)) for n_ in needs if n_ != "span"}
    if missing:
        any_missing = np.any(list(missing.values()), axis=0)
        skip(any_missing, lambda i: [_needs(model, [n_ for n_ in needs if n_ in missing
                                                    and missing[n_][k]], b, k) for k in i])
    skip(b.flag_text != "", lambda i: list(b.flag_text[i]))
    skip(b.d0 + e1 < b.first, lambda i: [
        f"before the data: the estimation window ends before the first price "
        f"({_day(b, b.first[k])})" for k in i])
    return todo


def _few_text(b, n, i, config) -> list:
    """The reasons of the pairs `i` with fewer than min_estimation usable estimation days."""
    e0 = config.estimation_window[0]
    return [(f"data start {_day(b, b.first[k])} cuts the estimation window: "
             if b.d0[k] + e0 < b.first[k] else "")
            + f"{n[k]} usable estimation days, fewer than min_estimation {config.min_estimation}"
            for k in i]


def _study_fast(b: Block, s, X, offset, config, out: PairArrays) -> np.ndarray:
    """The fused kernel (eventstudy.fastpath) on pairs `s` of a block (each pair its own
    row of the (P, L) arrays): fills `out` for the pairs it settles and returns that
    (len(s),) mask; the others (too few rows, a rank too close to call) go through the numpy
    path, which words their reasons."""
    status, _, _ = _kernel(b, s, np.zeros(len(s), np.int64), b.last[s] - b.d0[s], X, offset,
                           np.ones(len(s), bool), config, out, s)
    return (status == fastpath.OK) | (status == fastpath.CONSTANT)


def _kernel(src, col, r0, last_rel, X, off, todo, config, out: PairArrays, dest):
    """Run the fused kernel on pairs read from `src` (a Block or a Slab: ret, span, valid,
    exists, excluded rows) at (col, r0), write the settled ones to rows `dest` of `out`
    (with their p-values, and the reasons of constant returns); (status, n, n_excluded)."""
    from scipy import special
    e0, e1 = config.estimation_window
    w0, w1 = window_span(config)
    lo = src.rel[0]
    status, n, n_out = fastpath.fused(
        src.ret, src.span, X, off, src.valid, src.exists, src.excluded, col, r0,
        slice(e0 - lo, e1 - lo + 1), slice(w0 - lo, w1 - lo + 1), src.rel[w0 - lo:w1 - lo + 1],
        list(config.event_windows), last_rel, todo, config.min_estimation,
        config.returns == "log", out, dest)
    out.reason[dest[status == fastpath.CONSTANT]] = ("constant returns in the estimation "
                                                     "window (residual variance 0)")
    g = dest[status == fastpath.OK]
    if len(g):
        se = np.sqrt(out.var[g])
        out.se[g], out.var[g] = se, se ** 2
        with np.errstate(invalid="ignore"):
            out.p[g] = 2 * special.stdtr(out.dof[g][:, None], -np.abs(out.t[g]))
        if out.est_var is not None:
            out.est_var[g] = np.where(np.isfinite(out.resid[g]), out.sigma2[g][:, None],
                                      np.nan)
    return status, n, n_out


_SCRATCH = threading.local()      # per thread: the derived arrays of the slab it runs


class ResidBuffers:
    """Residual buffers (BLOCK_PAIRS x L days) handed from block to block of an in-process
    study with groups: a block's residuals are read once, into the group matrices
    (`GroupFill`), and its buffer then serves a later block. A fresh (pairs x 261 days) array
    per block was 1 GB of new memory per model at 500,000 pairs (its page faults and NaN fill
    ~19 s at 5,000 x 100, docs/scale-figures.md). The kernel writes a settled pair's
    estimation columns whole; the other columns are set NaN again when a buffer is reused
    (the numpy path may have written whole rows)."""

    def __init__(self, L: int, est: slice):
        self.L, self.est, self.free, self.lock = L, est, [], threading.Lock()

    def take(self, P: int) -> np.ndarray:
        with self.lock:
            buf = self.free.pop() if self.free and self.free[-1].shape[0] >= P else None
        if buf is None:
            return np.full((max(P, BLOCK_PAIRS), self.L), np.nan)[:P]
        buf = buf[:P]
        buf[:, :self.est.start] = np.nan
        buf[:, self.est.stop:] = np.nan
        return buf

    def give(self, resid: np.ndarray) -> None:
        with self.lock:
            self.free.append(resid.base if resid.base is not None else resid)


def study_slab(model: str, sl: Slab, config, keep_resid: bool = True,
               buffers: ResidBuffers | None = None) -> PairArrays:
    """`study_block` for the pairs of a Slab, the fused kernel reading the panel's rows in
    place (the numbers are `study_block`'s on the fast path: the same kernel on the same
    values; its estimation variances are derived, `PairArrays.est_variance`).
    `keep_resid=False`: the estimation residuals (P x L, 2 GB at a million pairs) are not
    returned (`resid` None): a study without groups needs them only for `result.panel`.
    `buffers`: the residuals are written to one of them (the caller gives it back)."""
    P = len(sl.d0)
    w0, w1 = window_span(config)
    out = PairArrays.empty(P, len(sl.rel), w1 - w0 + 1, len(config.event_windows),
                           est_var=False, resid=keep_resid and buffers is None)
    if keep_resid and buffers is not None:
        out.resid = buffers.take(P)
    if not keep_resid:               # the kernel writes every row it reads (no NaN fill)
        L = len(sl.rel)
        out.resid = thread_buffer("resid", max(P, BLOCK_PAIRS) * L)[:P * L].reshape(P, L)
    names = regressor_names(model, config.factors, config.dimson_lags)
    U, S = sl.ret.shape
    pick = [sl.span if n == "span" else sl.regs[n] for n in names]
    if len(pick) == 1:                            # one regressor: a view, no copy
        X = pick[0][:, :, None]
    elif pick:         # (U, S, k) in a buffer reused slab after slab (not fresh memory)
        size = U * S * len(pick)
        X = thread_buffer("x", size)[:size].reshape(U, S, len(pick))
        for a, values in enumerate(pick):
            X[:, :, a] = values
    else:
        X = np.zeros((U, S, 0))
    todo = _skip_rules(model, sl, config, out.reason)
    rows = np.arange(P)
    status, n, n_out = _kernel(sl, sl.col, sl.r0, sl.last - sl.d0, X,
                               sl.regs["rm"] if model == "market_adjusted" else None, todo,
                               config, out, rows)
    out.n_excluded[:] = n_out
    few = status == fastpath.FEW
    out.reason[few] = _few_text(sl, n, np.flatnonzero(few), config)
    rest = np.flatnonzero((status == fastpath.SHORT) | (status == fastpath.DOUBT))
    if len(rest):                  # left to the numpy path, which words their reasons
        out.put(rest, study_block(model, sl.block(rest), config))
    if not keep_resid:
        out.resid = None
    return out


def _window_days(panel, cols, d0, wrel, excluded, field, flag_text, announced) -> Block:
    """The window days of a slab's pairs (`gather`), as the frames read them: each row's
    benchmark_contaminated (`announced`: each pair's instant, int64 ns) instead of its
    benchmark interval, and no dates (`span_dates` gives them): three (pairs x days) int64
    arrays fewer kept per block (~250 MB at 500,000 pairs)."""
    small = gather(panel, cols, d0, wrel, excluded)
    small.benchmark_field, small.flag_text = field, flag_text
    small.contaminated = _contaminated(small, slice(None), slice(None), announced)
    small.bench_start = small.bench_end = small.date = None
    return small


def _resid_again(panel, cols, d0, rel, excluded, regs, flags, reasons, field, model,
                 config) -> np.ndarray:
    """A block's estimation residuals, computed again as `compute` computed them."""
    sl = slab(panel, cols, d0, rel, excluded, regs, flags, reasons)
    sl.benchmark_field = field
    return study_slab(model, sl, config).resid


def _day(b: Block, pos) -> str:
    """The session date at calendar position `pos`."""
    return f"{pd.Timestamp(b.calendar_dates[int(pos)]):%Y-%m-%d}"


def _needs(model: str, missing: list[str], b: Block, k: int) -> str:
    text = f"the {model.replace('_', ' ')} needs "
    if "rm" in missing:
        return text + f"a benchmark ({b.benchmark_field[k]})"
    return text + ", ".join(missing)


# ---------------------------------------------------------------------------------------------
# the whole study
# ---------------------------------------------------------------------------------------------

def compute(alignment: pd.DataFrame, panels: dict, where: dict, securities: list,
            config, groups: list, excluded: dict, flagged: dict | None = None, *,
            memo=None, executor=None, progress: bool = False, ar_store=None) -> Output:
    """Every (pair, model) of `alignment`, then the groups' tests and AAR paths.

    `groups`: (group id, members frame of (event_id, series)) in report order.
    `excluded`: panel key -> (S, N) bool, the rows kept out of estimation windows.
    `flagged`: {"mask": panel key -> (S, N) bool, "reasons": (key, row, col) -> text}: days
    the data checks flagged; a pair whose rows hold one is skipped.
    `memo`: an `eventstudy.memo.Memo` (or None): results whose inputs are unchanged are read
    from it, the rest computed; the driver reads and writes it, never a block.
    `executor`: where the blocks' `study_block` calls run (`eventstudy.executors`; default
    in-process); they get plain arrays and a `PartitionConfig`, and the reductions (group
    tests, AAR) stay here. `progress`: a progress line on stderr when it is a terminal.
    `ar_store`: an `eventstudy.store.PartitionedFrame`; the AR rows are written to it per
    partition instead of being held as one frame.
    """
    executor = executor if executor is not None else InProcess()
    workers = getattr(executor, "workers", 1)
    # pairs in output order: securities sorted as strings, then the alignment's order (a
    # stable sort of each pair's security's rank among the distinct securities: the same
    # order as sorting the million strings themselves)
    codes, names = pd.factorize(alignment["series"].to_numpy(dtype=object))
    rank = np.argsort(np.argsort(names.astype(str), kind="stable"), kind="stable")
    order = np.argsort(rank[codes], kind="stable")
    pairs = alignment.iloc[order].reset_index(drop=True)
    codes = codes[order]
    P = len(pairs)
    # the fast path by the study's largest block, not each partition's size or process state
    plain = PartitionConfig.of(config, [m for m in config.models
                                        if fastpath.use_fast(min(P, BLOCK_PAIRS), m)])
    se = pairs["series"].to_numpy(dtype=object)
    d0 = pairs["day0_pos"].to_numpy(dtype=np.int64)
    lo, hi = pair_span(config)
    rel = np.arange(lo, hi + 1)
    bench_field = {s.id: (f"universe.{s.universe}.benchmark" if s.universe
                          else f"series.{s.id}.benchmark") for s in securities}
    panel_no = {key: i for i, key in enumerate(panels)}
    # per distinct security, then per pair (no Python loop over a million pairs)
    key_of = np.array([panel_no[where[s][0]] for s in names], dtype=np.int64)[codes]
    col_of = np.array([where[s][1] for s in names], dtype=np.int64)[codes]
    models = list(config.models)
    results = {m: [] for m in models}     # per model: (pair positions, PairArrays, Block, keys)
    computed = reused = 0
    bar = Progress(P * len(models), enabled=progress)
    pending = []           # (model, entry number, rows, future): the partitions under way
    # every model on the fused kernel and no memo (whose keys hash the (pairs x days) rows):
    # the kernel reads the panel's rows in place (`Slab`), only the window days are gathered
    direct = memo is None and bool(models) and all(m in plain.fast_models for m in models)
    regs = sorted({n for m in models for n in regressor_names(m, config.factors,
                                                               config.dimson_lags)
                   if n != "span"} | ({"rm"} if "market_adjusted" in models else set()))
    wrel = np.arange(window_span(config)[0], window_span(config)[1] + 1)
    fields = pd.Series(bench_field)
    announced = pd.DatetimeIndex(pairs["announced_at_utc"]).tz_convert("UTC").as_unit("ns") \
        .asi8 if direct else None
    again = {}             # (model, entry) -> how to compute a block's residuals again
    # in-process on the kernel: the slabs run on a few threads (the kernel releases the GIL)
    # while this thread cuts the next slabs; cut as for one worker, so the same partitions
    threads = kernel_threads() if direct and isinstance(executor, InProcess) else 1
    pool = cf.ThreadPoolExecutor(threads, thread_name_prefix="eventstudy-slab") \
        if threads > 1 and P > BLOCK_PAIRS else None
    run_slab = pool.submit if pool is not None else executor.submit
    # on the kernel with groups: each model's group matrices are filled as its blocks complete
    # and each block's residuals (P x 261 days) dropped then (computed again if
    # `result.panel` is read), instead of every block's being kept for the groups
    fills = {m: GroupFill(pairs, config, False) for m in models} if direct and groups else {}
    e0 = config.estimation_window[0] - rel[0]
    buffers = ResidBuffers(len(rel), slice(e0, e0 + config.estimation_window[1]
                                           - config.estimation_window[0] + 1)) \
        if fills and (pool is not None or isinstance(executor, InProcess)) else None
    remaining = {}         # (model, entry) -> tasks of it still to settle
    settled = [0]          # pending[:settled[0]] are in `results`

    def settle(wait: bool, keep: int = 0) -> None:
        """Take the finished partitions' results, in order; `wait`: all but the last `keep`
        of them, waiting for them if need be."""
        while settled[0] < len(pending) - keep:
            m, i, rows, future = pending[settled[0]]
            if not wait and not future.done():
                return
            settled[0] += 1
            entry = results[m][i]
            if entry[1] is None or len(rows) == len(entry[1].reason):   # whole: no copy
                results[m][i] = entry = entry[:1] + (future.result(),) + entry[2:]
            else:
                entry[1].put(rows, future.result())
            remaining[(m, i)] -= 1
            if m in fills and not remaining[(m, i)]:
                part, arrays, small, keys = entry
                fills[m].add(part, arrays, small.result() if isinstance(small, cf.Future)
                             else small, keys)
                if buffers is not None:
                    buffers.give(arrays.resid)
                arrays.resid = None
    for key, panel in panels.items():
        idx = np.flatnonzero(key_of == panel_no[key])
        flag_rows = flag_keys(flagged["mask"][key]) if flagged and direct else None
        for start in range(0, len(idx), BLOCK_PAIRS):
            part = idx[start:start + BLOCK_PAIRS]
            field = fields.reindex(se[part]).to_numpy(dtype=object)
            if direct:
                sl = slab(panel, col_of[part], d0[part], rel, excluded[key], regs, flag_rows,
                          flagged["reasons"] if flagged else None)
                sl.benchmark_field = field
                # the window days for the frames: on the pool too, when there is one
                small = (pool.submit if pool is not None else InProcess().submit)(
                    _window_days, panel, col_of[part], d0[part], wrel, excluded[key], field,
                    sl.flag_text, announced[part])
                for m in models:
                    size = n_tasks(len(part), workers, BLOCK_PAIRS)
                    for i in range(0, len(part), size):
                        rows = np.arange(i, min(i + size, len(part)))
                        sub = sl if len(rows) == len(part) else sl.take(rows)
                        future = run_slab(study_slab, m, sub, plain, bool(groups),
                                          buffers)
                        bar.add_part()
                        future.add_done_callback(lambda _, n=len(rows): bar.advance(n))
                        pending.append((m, len(results[m]), rows, future))
                        remaining[(m, len(results[m]))] = remaining.get(
                            (m, len(results[m])), 0) + 1
                    computed += len(part)
                    arrays = None if size >= len(part) else PairArrays.empty(
                        len(part), len(rel), len(wrel), len(config.event_windows),
                        est_var=False, resid=bool(groups))
                    results[m].append((part, arrays, small, None))
                    if not groups or fills:
                        again[(m, len(results[m]) - 1)] = functools.partial(
                            _resid_again, panel, col_of[part], d0[part], rel, excluded[key],
                            regs, flag_rows, flagged["reasons"] if flagged else None, field,
                            m, plain)
                settle(wait=False)
                if buffers is not None:     # a few blocks ahead of the group matrices: so
                    #                         many residual buffers in use, not one a block
                    settle(wait=True, keep=(threads + 1) * len(models))
                continue
            block = gather(panel, col_of[part], d0[part], rel, excluded[key],
                           flagged["mask"][key] if flagged else None,
                           flagged["reasons"] if flagged else None)
            block.benchmark_field = field
            for m in models:
                keys = pair_keys(block, m, config) if memo is not None else None
                arrays, hit = _from_memo(memo, m, keys, block, config)
                todo = np.flatnonzero(~hit)
                size = n_tasks(len(todo), workers, BLOCK_PAIRS)
                for i in range(0, len(todo), size):
                    rows = todo[i:i + size]
                    sub = block if len(rows) == len(hit) else block.take(rows)
                    future = executor.submit(study_block, m, plain_block(sub), plain)
                    bar.add_part()
                    future.add_done_callback(lambda _, n=len(rows): bar.advance(n))
                    pending.append((m, len(results[m]), rows, future))
                    remaining[(m, len(results[m]))] = remaining.get((m, len(results[m])), 0) + 1
                bar.advance(int(hit.sum()), part=False)
                computed += len(todo)
                reused += int(hit.sum())
                results[m].append((part, arrays, block, keys))
            # the partitions have their own copies: keep the event-window days only
            small = window_block(block, config)
            for m in models:
                results[m][-1] = results[m][-1][:2] + (small,) + results[m][-1][3:]
    try:
        settle(wait=True)
        buffers = None          # (the free ones: not kept through the group tests)
    except BaseException:
        for *_, future in pending:
            future.cancel()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    for m in models:           # the window days of the slab path, in block order
        results[m] = [e[:2] + (e[2].result(),) + e[3:] if isinstance(e[2], cf.Future) else e
                      for e in results[m]]
    for (m, i), source in again.items():
        results[m][i][1].resid_source = source
    if memo is not None:            # in the order a one-process run keeps them
        for i in range(len(results[models[0]]) if models else 0):
            for m in models:
                _, arrays, _, keys = results[m][i]
                memo.keep(m, keys, _to_columns(arrays))

    group_rows = []
    index = pd.MultiIndex.from_frame(pairs[["event_id", "series"]]) if groups else None
    member_of = [(gid, _member_mask(index, members)) for gid, members in groups]
    for m in models if member_of else ():      # no groups: no group matrices either
        gm, colpos, pair_of_col, pair_key = fills.pop(m).finish() if m in fills \
            else _group_matrix(pairs, results[m], config)
        car, car_var, dof, n_days = _car_arrays(P, results[m], config)
        same_pairs = {}      # groups of the very same pairs (one event: its group and the
        #                      pooled one) get the same rows: a pure function of the pairs
        todo = {}            # pairs (bytes) -> columns of the batteries to compute
        order = []           # (gid, pairs bytes), in group order
        memo_keys = {}       # pairs (bytes) -> memo key, in group order
        for gid, member in member_of:
            if not np.isfinite(car[member]).any():
                continue
            cols = np.sort(colpos[member & (colpos >= 0)])
            key = cols.tobytes()
            order.append((gid, key))
            if key in same_pairs or key in todo:
                continue
            gkey = None
            if memo is not None:
                gkey = memo.group_key(m, pair_key[:, cols], test_windows(config),
                                      config.n_boot, config.seed, RANK_EVENT_SPAN_ONLY,
                                      config.report_oversized_tests)
                memo_keys[key] = gkey
                res = memo.group(gkey)
                if res is not None:
                    reused += 1
                    same_pairs[key] = res
                    continue
            todo[key] = cols

        def battery(cols):
            sub = gm if len(cols) == len(gm.keys) else gm.take(cols)   # pooled: no copy
            wins = _windows(sub, car, car_var, dof, n_days, pair_of_col[cols], config)
            return inference.group_tests_matrix(
                sub, wins, n_boot=config.n_boot, seed=config.seed,
                oversized=() if config.report_oversized_tests else None)

        # the largest group first, alone (it fills the per-pair work every group slices),
        # then the others on two threads: each battery is a pure function of its pairs and
        # numpy's sorts, products and reductions let go of the GIL
        keys = sorted(todo, key=lambda k: -len(todo[k]))
        for key, res in zip(keys, _map_batteries(battery, [todo[k] for k in keys])):
            computed += 1
            same_pairs[key] = res
        for key, gkey in memo_keys.items():       # the memo in group order, as before
            memo.keep_group(gkey, same_pairs[key])
        group_rows.extend((gid, m, same_pairs[key]) for gid, key in order)
    # the group matrices and the batteries' per-pair work are done with: free them before
    # the frames (at 5,000 x 100 each side is GBs, and fresh memory is what costs time)
    gm = battery = None
    frames = _frames(pairs, results, models, config, ar_store)
    tests = [frames.pop("pair_tests")]
    rank = {gid: i for i, (gid, _) in enumerate(groups)}
    group_rows.sort(key=lambda r: (rank[r[0]], models.index(r[1])))
    if group_rows:
        tests.append(pd.concat([res.assign(group=gid, model=m, event_id="", series="")
                                for gid, m, res in group_rows], ignore_index=True))
    tests = [t for t in tests if len(t)]
    if len(tests) == 1 and not group_rows:      # the pair rows alone: as _pair_tests made them
        tests = tests[0][TEST_COLUMNS]
    elif tests:
        tests = pd.concat(tests, ignore_index=True)
        tests["note"] = tests["note"].fillna("")
        ratio = tests["test"].isin(RATIO_TESTS)
        with np.errstate(invalid="ignore", divide="ignore"):
            tests["se"] = np.where(ratio, tests["estimate"] / tests["statistic"], np.nan)
        tests = tests[TEST_COLUMNS]
        if group_rows:        # the pair rows come in order (_pair_tests), before any group's
            tests = tests.sort_values(["group", "model", "event_id", "series", "window_start",
                                       "window_end", "test"], kind="stable")
        tests = tests.reset_index(drop=True)
    else:
        tests = pd.DataFrame(columns=TEST_COLUMNS)
    # with the ARs on disk, the AAR's inputs come from the arrays: reading them back from the
    # temporary dataset wrote and read every AR row (~300 s at 5,000 x 100)
    kernels = fastpath.kernels_if_loaded()
    if not groups:
        aar = pd.DataFrame(columns=AAR_COLUMNS)
    elif kernels is not None:       # from the arrays: no AR rows, no merge of them per group
        aar = _aar_arrays(pairs, results, models, config, groups, member_of, kernels)
    else:
        aar = group_aar(frames["ar"] if ar_store is None
                        else _aar_input(pairs, results, models, config), groups)
    return Output(ar=frames["ar"], car=frames["car"], tests=tests, aar=aar,
                  skipped=frames["skipped"], lazy_panel=frames["panel"],
                  reuse={"computed": computed, "reused": reused})


def pair_keys(b: Block, model: str, config) -> np.ndarray:
    """(P, 2) uint64: a 128-bit hash of everything one model reads for each pair."""
    from eventstudy.memo import row_keys
    arrays = [b.ret, b.span, b.valid, b.exists, b.excluded, b.flagged, b.date.view(np.int64),
              b.bench_start, b.bench_end]
    arrays += [b.regs[k] for k in sorted(b.regs)]
    scalars = [b.d0, b.first, b.last] + [b.has[k] for k in sorted(b.has)]
    salt = repr((model, config.estimation_window, config.event_windows, config.plot_window,
                 config.returns, config.min_estimation, config.factors, config.dimson_lags,
                 sorted(b.regs)))
    return row_keys(arrays, scalars, salt)


def _from_memo(memo, model, keys, block, config):
    w0, w1 = window_span(config)
    arrays = PairArrays.empty(len(block.d0), len(block.rel), w1 - w0 + 1,
                              len(config.event_windows))
    hit = np.zeros(len(block.d0), bool)
    if memo is None:
        return arrays, hit
    hit, stored = memo.lookup(model, keys, _to_columns(arrays))
    if hit.any():
        rows = np.flatnonzero(hit)
        arrays.reason[rows] = stored["reason"]
        for n in PairArrays.SCALARS + PairArrays.ARRAYS:
            getattr(arrays, n)[rows] = stored[n]
    return arrays, hit


def _to_columns(a: PairArrays) -> dict:
    return {"reason": a.reason, **{n: a.est_variance(slice(None)) if n == "est_var"
                                   else getattr(a, n) for n in PairArrays.SCALARS
                                   + PairArrays.ARRAYS}}


def _member_mask(index: pd.MultiIndex, members: pd.DataFrame) -> np.ndarray:
    """(P,) bool: the pairs of `index` that are members."""
    at = index.get_indexer(pd.MultiIndex.from_frame(members[["event_id", "series"]]))
    mask = np.zeros(len(index), bool)
    mask[at[at >= 0]] = True
    return mask


def _window_slice(config, rel) -> slice:
    w0, w1 = window_span(config)
    return slice(w0 - rel[0], w1 - rel[0] + 1)


def _frames(pairs, results, models, config, ar_store=None) -> dict:
    """The tidy frames, rows in (pair, model, day/window) order; with `ar_store`, the AR rows
    (and the estimation panel) go to it block by block and `ar` is the store: at once for a
    dataset the caller named, else when it is first read (a temporary dataset: a study of a
    million pairs need not spend its time writing rows nobody reads)."""
    ev, se = _Strings(pairs["event_id"]), _Strings(pairs["series"])
    day0 = pairs["day0"].to_numpy()
    announced = pd.DatetimeIndex(pairs["announced_at_utc"]).tz_convert("UTC").as_unit("ns").asi8
    ar_parts, skip_parts, plan = [], [], []
    panel = _LazyPanel(ev, se, config)
    panel_store = ar_store.sibling("panel", PANEL_COLUMNS) if ar_store is not None else None
    wins = list(config.event_windows)
    nw = len(wins)
    log = config.returns == "log"
    on_disk = []           # (block, model, pair rows, PairArrays, Block, studied): the ARs
    #                        are derived again when written (not held, maybe for ever)
    ev_text, se_text = _text(pairs["event_id"]), _text(pairs["series"])
    model_text = _text(models)
    for mi, m in enumerate(models):
        for bi, (part, r, b, _) in enumerate(results[m]):
            bad = r.reason != ""
            if bad.any():
                k = part[bad]
                skip_parts.append(pd.DataFrame({"_p": k, "_m": mi, "event_id": ev[k],
                                                "series": se[k], "model": m,
                                                "reason": r.reason[bad]}))
            s = np.flatnonzero(~bad)
            if not len(s):
                continue
            pk = part[s]
            plan.append((mi, r, s, pk))
            if ar_store is not None:
                on_disk.append((bi, mi, m, pk, r, b, s))
                continue
            abnormal = _abnormal(config, r, b, s)
            ar_parts.append(_ar_part(ev, se, announced, config, mi, m, pk, r, b, s,
                                     abnormal))
            panel.parts.append((pk, mi, m, r, b, s, abnormal))
    if ar_store is not None:
        pending = {"ar", "panel"}

        def write(*which):
            """The AR rows and/or the estimation panel (ten times as many rows: written only
            when the panel is read), the ARs derived again block by block."""
            for bi, mi, m, pk, r, b, s in on_disk:
                abnormal = _abnormal(config, r, b, s)
                if "ar" in which:
                    ar_store.write(_ar_part(ev, se, announced, config, mi, m, pk, r, b, s,
                                            abnormal), block=bi, model=mi)
                if "panel" in which:
                    one = _LazyPanel(ev, se, config)
                    one.parts.append((pk, mi, m, r, b, s, abnormal))
                    panel_store.write(one.frame(keys=True), block=bi, model=mi)
            pending.difference_update(which)
            if not pending:
                on_disk.clear()
        if ar_store.temporary:          # a temporary dataset: each written when first read
            ar_store.defer(lambda: write("ar"))
            panel_store.defer(lambda: write("panel"))
        else:                           # the datasets the caller asked for: written now
            write("ar", "panel")
    ar = _ordered(ar_parts, AR_COLUMNS) if ar_store is None else ar_store
    rows = _car_columns(plan, wins)
    # the car frame and the pair-test rows are independent: side by side at scale
    car, pair_tests = side_by_side(
        lambda: _car_frame(rows, ev_text, se_text, model_text, day0, log),
        lambda: _pair_tests(ev_text, se_text, models, rows, nw),
        threads=len(pairs) > BLOCK_PAIRS and kernel_threads() > 1)
    skipped = _ordered(skip_parts, ["event_id", "series", "model", "reason"])
    return {"ar": ar, "car": car, "skipped": skipped, "pair_tests": pair_tests,
            "panel": panel if panel_store is None else panel_store}


class _Strings:
    """A text column's values at some rows as Python strings (`_frames`' event ids and
    securities): the whole column as objects only when many rows are asked for (at a
    million pairs with the ARs on disk only the few skipped pairs need them now)."""

    def __init__(self, column: pd.Series):
        self._column, self._all = column, None

    def __getitem__(self, idx):
        if self._all is None and np.size(idx) * 8 < len(self._column):
            return self._column.iloc[idx].to_numpy(dtype=object)
        if self._all is None:
            self._all = self._column.to_numpy(dtype=object)
        return self._all[idx]


#: `_car_columns`' per-window columns (PairArrays field -> column) and per-pair ones
_CAR_WINDOW = {"car": "car", "se": "se", "t": "t_stat", "p": "p_value", "bhar": "bhar",
               "var": "car_var", "boot_p": "_boot_p", "boot_m": "_boot_m"}


def _car_columns(plan, wins) -> dict | None:
    """Every CAR row's numbers as whole columns in the car frame's (pair, model, window)
    order, each block's values written straight to their rows: no per-block arrays
    concatenated, and no reordered copy of every column (at a million pairs each of those
    was ~400 MB of fresh memory). `plan`: (model index, PairArrays, studied pairs of the
    block, their pair rows), per model then block. Also the columns `_pair_tests` reads
    (`_boot_p`, `_boot_m`, and the `_p`, `_m`, `_note` codes)."""
    nw = len(wins)
    if not plan:
        return None
    sizes = [len(s) * nw for _, _, s, _ in plan]
    bounds = np.cumsum([0] + sizes)
    R = int(bounds[-1])
    p = np.empty(R, np.int64)
    m = np.empty(R, np.int64)
    for (mi, _, s, pk), a, b in zip(plan, bounds[:-1], bounds[1:]):
        p[a:b].reshape(len(s), nw)[:] = pk[:, None]
        m[a:b] = mi
    if R > 1 and not ((p[1:] > p[:-1]) | ((p[1:] == p[:-1]) & (m[1:] >= m[:-1]))).all():
        order = np.lexsort((m, p))        # (one model: the blocks come in order)
        p, m = p[order], m[order]
        dest = np.empty(R, np.int64)
        dest[order] = np.arange(R)
        at = [dest[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    else:
        at = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    out = {"_p": p, "_m": m,
           "window_start": np.tile(np.asarray([w[0] for w in wins], np.int64), R // nw),
           "window_end": np.tile(np.asarray([w[1] for w in wins], np.int64), R // nw)}
    for name in list(_CAR_WINDOW.values()) + ["sigma"]:
        out[name] = np.empty(R)
    for name in ("dof", "n_est", "n_days", "n_excluded", "_note"):
        out[name] = np.empty(R, np.int64)
    for (mi, r, s, pk), w in zip(plan, at):
        for field, name in _CAR_WINDOW.items():
            out[name][w] = getattr(r, field)[s].ravel()
        n_days = r.n_days[s].ravel()
        out["n_days"][w] = n_days.astype(np.int64)
        for field in ("dof", "n_est", "n_excluded"):
            out[field][w] = np.repeat(getattr(r, field)[s].astype(np.int64), nw)
        out["sigma"][w] = np.repeat(np.sqrt(r.sigma2[s]), nw)
        # the note: "", waiting, no returns, or "<g> missing bar(s) in window"
        n_gaps = r.n_gaps[s].ravel().astype(np.int64)
        out["_note"][w] = np.where(r.waiting[s].ravel() > 0, 1, np.where(
            n_days == 0, 2, np.where(n_gaps > 0, 2 + n_gaps, 0)))
    return out


def _car_frame(cols, ev_text, se_text, model_text, day0, log) -> pd.DataFrame:
    """The car frame from `_car_columns` (None: no rows): the numeric columns as they are,
    the text columns taken once from their arrow arrays."""
    if cols is None:
        return pd.DataFrame(columns=CAR_COLUMNS)
    p, m, code = cols["_p"], cols["_m"], cols["_note"]
    gaps = int(code.max(initial=0)) - 2
    notes = _text(["", "waiting for data", "no returns in window"]
                  + [f"{g} missing bar(s) in window" for g in range(1, gaps + 1)])
    car = cols["car"]
    out = {"event_id": _col(ev_text, p), "series": _col(se_text, p),
           "model": _col(model_text, m), **{k: v for k, v in cols.items() if k[0] != "_"},
           "car_simple": np.expm1(car) if log else car, "day0": day0[p],
           "note": _col(notes, code)}
    return pd.DataFrame({k: out[k] for k in CAR_COLUMNS}, copy=False)


def _text(values):
    """A pyarrow string array of `values` (strings), to take rows of with `_col`; a pandas
    string column gives its own arrow data (no million Python strings in between). Large
    strings, as pandas keeps them: a take of plain strings is cast again by `to_pandas`
    (a copy of every taken row)."""
    import pyarrow as pa
    if isinstance(values, pd.Series) and not isinstance(values.dtype, np.dtype):
        try:
            out = pa.array(values.array)
            if pa.types.is_string(out.type) or pa.types.is_large_string(out.type):
                return out.cast(pa.large_string()) if pa.types.is_string(out.type) else out
        except (TypeError, ValueError, pa.ArrowException):
            pass
    return pa.array(np.asarray(values, dtype=object), pa.large_string())


def _col(text, idx) -> pd.Series:
    """The strings `text[idx]` as a pandas string column: arrow's take, instead of turning
    millions of Python strings into an arrow column one by one (10x faster at 3 million)."""
    idx = np.asarray(idx)         # (any integer type: a narrow one is less fresh memory)
    return text.take(idx if idx.dtype.kind in "iu" else idx.astype(np.int64)).to_pandas()


def _pair_tests(ev, se, models, cols, nw: int) -> pd.DataFrame:
    """Each CAR's t-test row and, when the CAR is defined, its bootstrap row, already in the
    order of the tests frame (model, event_id, series, window, test; "bootstrap" before
    "t"): the pairs are ranked once, instead of sorting millions of rows by their strings.
    `ev`, `se`: the pairs' event ids and securities (arrow strings, `_text`); `cols`: the
    CAR rows' columns (`_car_columns`, None: no rows), each (pair, model)'s `nw` windows
    in the config's order.

    Each CAR row is written straight to its places in the output columns (no reordered
    copies of every column: at a million pairs those are GBs of fresh memory, which costs
    more than the arithmetic)."""
    if cols is None:
        return pd.DataFrame()
    names = np.asarray(models, dtype=object)
    mrank = np.argsort(np.argsort(names.astype(str), kind="stable"), kind="stable")
    # the pairs sorted by (model, event_id, series), each pair's windows by (start, end):
    # not a sort of all the rows by four keys (3 million at a million pairs)
    pk, mi = cols["_p"][::nw], cols["_m"][::nw]
    key = mrank[mi] * (len(ev) + 1) + _pair_rank(ev, se)[pk]
    pos = np.empty(len(key), np.int64)
    pos[np.argsort(key)] = np.arange(len(key))
    del key
    wrank = np.empty(nw, np.int64)
    wrank[np.lexsort((cols["window_end"][:nw], cols["window_start"][:nw]))] = np.arange(nw)
    place = (pos[:, None] * nw + wrank[None, :]).ravel()      # each row's sorted place
    del pos
    keep = np.isfinite(cols["car"])
    kept = np.zeros(len(place), bool)
    kept[place] = keep
    dest = np.cumsum(1 + kept)
    dest -= 1
    dest = dest[place]          # each CAR's t row; its bootstrap row just before it
    del place, kept
    boot = dest[keep] - 1
    total = len(dest) + len(boot)

    def rows(t_values, b_values, dtype):
        """A column: the t rows `t_values` and the bootstrap rows `b_values` (a column of
        the CAR rows, or one value for all)."""
        out = np.empty(total, dtype=dtype)
        out[dest] = t_values
        out[boot] = b_values[keep] if np.ndim(b_values) else b_values
        return out

    def text_columns():
        """The string columns (arrow takes of the narrowest codes) and the windows."""
        pair = rows(cols["_p"], cols["_p"], np.int32 if len(ev) < 2 ** 31 else np.int64)
        small = np.int8 if len(names) < 128 else np.int64
        return {"group": _col(_text([""]), np.zeros(total, np.int8)),
                "model": _col(_text(names), rows(cols["_m"], cols["_m"], small)),
                "event_id": _col(ev, pair), "series": _col(se, pair),
                "window_start": rows(cols["window_start"], cols["window_start"], np.int64),
                "window_end": rows(cols["window_end"], cols["window_end"], np.int64),
                "test": _col(_text(["t", "bootstrap"]), rows(0, 1, np.int8))}

    def number_columns():
        car = cols["car"]
        estimate, statistic = rows(car, car, float), rows(cols["t_stat"], car, float)
        se_ = np.full(total, np.nan)           # estimate / statistic on the t rows only
        with np.errstate(invalid="ignore", divide="ignore"):    # (as `compute` words it)
            se_[dest] = car / cols["t_stat"]
        return {"estimate": estimate, "se": se_, "statistic": statistic,
                "dof": rows(cols["dof"], np.nan, float),
                "p_value": rows(cols["p_value"], cols["_boot_p"], float),
                "n": rows(cols["n_days"], cols["_boot_m"].astype(np.int64), np.int64)}

    # two halves of the columns side by side at scale (each a few GB-seconds of fresh
    # memory and arrow takes, which release the GIL): the same values either way
    text, numbers = side_by_side(text_columns, number_columns,
                                 threads=total > 2 * BLOCK_PAIRS and kernel_threads() > 1)
    out = {**text, **numbers, "note": text["group"]}
    return pd.DataFrame({k: out[k] for k in TEST_COLUMNS}, copy=False)


def _pair_rank(ev, se) -> np.ndarray:
    """(P,) each pair's rank by (event_id, series) as strings (arrow sorts UTF-8 bytes:
    code point order, as Python does)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    arrow = lambda v: v if isinstance(v, (pa.Array, pa.ChunkedArray)) \
        else pa.array(v, pa.string())  # noqa: E731
    order = pc.sort_indices(pa.table({"e": arrow(ev), "s": arrow(se)}),
                            sort_keys=[("e", "ascending"), ("s", "ascending")]).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _abnormal(config, r, b, s) -> np.ndarray:
    """The studied pairs `s`' abnormal returns on the window's days (pairs x window days)."""
    return b.ret[s, _window_slice(config, b.rel)] - r.expected[s]


def _ar_rows(config, r, b, s, abnormal):
    """What every AR row of one block and model shares (its studied pairs `s`): the window
    slice, the rows' (pair, day) positions (the window's existing days), their AR se, CAR
    path and path se."""
    j = _window_slice(config, b.rel)
    ok = np.isfinite(r.expected[s])
    path = np.cumsum(np.where(ok, abnormal, 0.0), axis=1)
    path_se = _ffill(np.sqrt(r.path_var[s]))
    pi, wj = np.nonzero(b.exists[s, j])
    with np.errstate(invalid="ignore"):
        ar_se = np.sqrt(r.ar_var[s][pi, wj])
    return j, pi, wj, ar_se, path[pi, wj], path_se[pi, wj]


def _ar_part(ev, se, announced, config, mi, m, pk, r, b, s, abnormal) -> pd.DataFrame:
    """The AR rows of one block and model (its studied pairs `s`, window rows of `b`)."""
    j, pi, wj, ar_se, path, path_se = _ar_rows(config, r, b, s, abnormal)
    exists = b.exists[s, j]
    ret = b.ret[s, j][pi, wj]
    with np.errstate(invalid="ignore", divide="ignore"):
        ar_t = abnormal[pi, wj] / ar_se
    return pd.DataFrame({
        "_p": pk[pi], "_m": mi, "event_id": ev[pk[pi]], "series": se[pk[pi]],
        "model": m, "date": (b.date[s, j] if b.date is not None
                             else span_dates(b, s, b.rel[j]))[pi, wj],
        "rel_day": b.rel[j][wj],
        "return": ret, "simple_return": np.expm1(ret) if config.returns == "log" else ret,
        "benchmark_return": b.regs["rm"][s, j][pi, wj],
        "expected_return": r.expected[s][pi, wj], "abnormal_return": abnormal[pi, wj],
        "ar_se": ar_se, "ar_t": ar_t, "car_path": path,
        "car_path_se": path_se, "span": b.span[s, j][pi, wj],
        "gap": (exists & ~b.valid[s, j])[pi, wj],
        "benchmark_contaminated": _contaminated(b, s, j, announced[pk])[pi, wj]})


class _LazyPanel:
    """The long inference panel (estimation residuals, then event ARs, per pair and model):
    turned into a frame only when `result.panel` is read."""

    def __init__(self, ev, se, config):
        self.parts, self._ev, self._se, self._config = [], ev, se, config

    def frame(self, keys: bool = False) -> pd.DataFrame:
        """`keys`: with the sort keys `_p` (pair) and `_m` (model), for a PartitionedFrame."""
        e1 = self._config.estimation_window[1]
        frames = []
        lo, hi = pair_span(self._config)
        rel = np.arange(lo, hi + 1)
        j = _window_slice(self._config, rel)
        for pk, mi, m, r, b, s, abnormal in self.parts:
            jb = _window_slice(self._config, b.rel)
            fitted = np.isfinite(r.residuals(s))
            after = np.zeros(fitted.shape, bool)
            after[:, j] = b.exists[s, jb] & (b.rel[jb] > e1)[None, :]
            dates = span_dates(b, s, rel)
            ar_ev = np.full(fitted.shape, np.nan)
            var_ev = np.full(fitted.shape, np.nan)
            ar_ev[:, j], var_ev[:, j] = abnormal, r.ar_var[s]
            for ph, phase, mask, ar, var in ((0, "estimation", fitted, r.residuals(s),
                                              r.est_variance(s)),
                                             (1, "event", after, ar_ev, var_ev)):
                pi, wj = np.nonzero(mask)
                frames.append(pd.DataFrame({
                    "_p": pk[pi], "_m": mi, "_ph": ph,
                    "event_id": self._ev[pk[pi]], "series": self._se[pk[pi]], "model": m,
                    "phase": phase, "rel_day": rel[wj], "date": dates[pi, wj],
                    "abnormal_return": ar[pi, wj], "ar_var": var[pi, wj],
                    "sigma2": r.sigma2[s][pi], "dof": r.dof[s][pi].astype(np.int64),
                    "n_est": r.n_est[s][pi].astype(np.int64)}))
        if not frames:
            return pd.DataFrame(columns=PANEL_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        order = np.lexsort((out["_ph"].to_numpy(), out["_m"].to_numpy(), out["_p"].to_numpy()))
        keep = PANEL_COLUMNS + (["_p", "_m"] if keys else [])
        return out.iloc[order][keep].reset_index(drop=True)


def _contaminated(b: Block, s, j, announced: np.ndarray) -> np.ndarray:
    """(F, W): the row's benchmark return (from its close at `start` to its close at `end`)
    reflects the announcement of the pair's own event, start <= announced < end (the first
    close strictly after an announcement is the first to reflect it, as for day 0): the
    benchmark reacted to the same news, and the market model calls part of it normal."""
    if b.contaminated is not None:
        return b.contaminated[s, j]
    a = announced[:, None]
    return (b.bench_start[s, j] <= a) & (a < b.bench_end[s, j])


def _ordered(parts, columns) -> pd.DataFrame:
    """Concatenate per-model parts and order rows by pair, then model (stable within)."""
    if not parts:
        return pd.DataFrame(columns=columns or [])
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    p, m = out["_p"].to_numpy(), out["_m"].to_numpy()
    if len(p) > 1 and not ((p[1:] > p[:-1]) | ((p[1:] == p[:-1]) & (m[1:] >= m[:-1]))).all():
        out = out.iloc[np.lexsort((m, p))]        # (one model: the blocks come in order)
    out = out.reset_index(drop=True)
    return out[columns] if columns else out.drop(columns=["_p", "_m"])


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along each row (leading NaN stays NaN)."""
    idx = np.where(np.isfinite(values), np.arange(values.shape[1])[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = np.take_along_axis(values, np.maximum(idx, 0), axis=1)
    return np.where(idx >= 0, out, np.nan)


def _map_batteries(battery, col_sets: list) -> list:
    """``battery`` of each set of columns, the first alone, the rest on
    `executors.kernel_threads()` threads (`EVENTSTUDY_THREADS`); results in the given order
    (each is a pure function of its columns)."""
    if not col_sets:
        return []
    out = [battery(col_sets[0])]
    rest = col_sets[1:]
    threads = kernel_threads()
    if threads < 2 or len(rest) < 2:
        return out + [battery(c) for c in rest]
    # BLAS on one thread meanwhile: the small groups' products (KP's pairwise correlations)
    # gain nothing from BLAS threads on top of ours, whose waits then cost CPU on 2 cores
    with cf.ThreadPoolExecutor(threads, thread_name_prefix="eventstudy-groups") as pool, \
            threadpool_limits(1, user_api="blas"):
        return out + list(pool.map(battery, rest))


def _car_arrays(P: int, results, config):
    """(P, n_windows) car, car_var, dof, n_days of one model, NaN where not studied."""
    nw = len(config.event_windows)
    car, var, dof, nd = (np.full((P, nw), np.nan) for _ in range(4))
    for part, r, _, _ in results:
        s = np.flatnonzero(r.reason == "")
        pk = part[s]
        car[pk], var[pk], nd[pk] = r.car[s], r.var[s], r.n_days[s]
        dof[pk] = r.dof[s][:, None]
    return car, var, dof, nd


def _group_matrix(pairs, results, config):
    """One model's (rel_day x pair) matrices over every studied pair, pairs sorted by
    (event_id, series); each pair's column (-1: not studied), each column's pair, and each
    column's memo key (`GroupFill`, filled from every block at once)."""
    per_day_var = any(r.est_var is not None for _, r, _, _ in results)
    fill = GroupFill(pairs, config, per_day_var)
    for entry in results:
        fill.add(*entry)
    return fill.finish()


class GroupFill:
    """One model's group matrices, filled a block at a time as the blocks complete (a block's
    estimation residuals, P x 261 days, can then be dropped: the matrices hold them), and
    cut to the studied pairs at the end.

    Columns: every pair of the study sorted by (event_id, series); `finish` keeps the studied
    ones, in place (each row moved left; no second copy of the matrices). Dates are not a
    (days x pairs) int64 matrix but each pair's row 0 in one array of its calendars' day
    numbers; a least-squares model's estimation variances are one sigma^2 per pair, only the
    event rows' variances are stored per day (at 500,000 pairs each (days x pairs) float64
    matrix is 1 GB). Every column of a studied pair is written whole, so the float matrices
    are allocated without a fill (`np.empty`: no pass over fresh memory)."""

    def __init__(self, pairs, config, per_day_var: bool):
        P = len(pairs)
        self.config, self.per_day_var, self.P = config, per_day_var, P
        lo, hi = pair_span(config)
        self.rel = rel = np.arange(lo, hi + 1)
        self.ev = pairs["event_id"].to_numpy().astype(str)
        self.se = pairs["series"].to_numpy().astype(str)
        self.order = np.lexsort((self.se, self.ev))      # column -> pair, all pairs
        self.col = np.empty(P, np.int64)                 # pair -> column
        self.col[self.order] = np.arange(P)
        L = len(rel)
        self.j = j = _window_slice(config, rel)
        self.studied = np.zeros(P, bool)
        self.AR = np.empty((L, P))
        self.VAR = np.empty((L, P)) if per_day_var else None
        self.VAR_EST = np.full(P, np.nan)
        self.BAND = np.empty((j.stop - j.start, P))
        self.EST, self.EVT = np.zeros((L, P), bool), np.zeros((L, P), bool)
        self.POS = np.zeros(P, np.int64)
        self.DOF = np.full(P, np.nan)
        self.KEY = np.zeros((2, P), np.uint64)
        self.cals, self.cal_parts, self.cal_len = {}, [], 0   # distinct calendars, padded

    def add(self, part, r, b, keys) -> None:
        """The studied pairs of one block (`r`: its PairArrays, `b`: its window days)."""
        config, rel, j, L = self.config, self.rel, self.j, len(self.rel)
        e1 = config.estimation_window[1]
        span0, span1 = config.event_span
        s = np.flatnonzero(r.reason == "")
        c = self.col[part[s]]
        self.studied[part[s]] = True
        jb = _window_slice(config, b.rel)
        # every pair studied (the common case): the block's residuals as they are, no copy
        resid = r.resid if r.resid is not None and len(s) == len(r.reason) \
            else r.residuals(s)
        fitted = np.isfinite(resid)
        evt = np.zeros(fitted.shape, bool)
        evt[:, j] = b.exists[s, jb]
        evt &= (rel > e1)[None, :]
        if RANK_EVENT_SPAN_ONLY:
            evt &= ((rel >= span0) & (rel <= span1))[None, :]
        ar = np.where(fitted, resid, np.nan)
        ar[:, j] = np.where(evt[:, j], b.ret[s, jb] - r.expected[s], ar[:, j])
        kernels = fastpath.kernels_if_loaded()

        def put(dst, rows):             # dst[:, c] = rows.T
            if kernels is None:
                dst[:, c] = rows.T
            else:
                kernels.scatter_columns(dst, np.ascontiguousarray(rows), c)
        put(self.AR, ar)
        put(self.EST, fitted)
        put(self.EVT, evt)
        band = np.where(evt[:, j], r.ar_var[s], np.nan)
        if self.per_day_var:
            var = np.where(fitted, r.est_variance(s), np.nan)
            var[:, j] = np.where(evt[:, j], band, var[:, j])
            put(self.VAR, var)
        else:
            self.VAR_EST[c] = r.sigma2[s]
        put(self.BAND, band)
        # the dates span_dates gives: the calendar's sessions, NaT (int64 min) off it
        cal = np.asarray(b.calendar_dates, dtype="datetime64[ns]").astype("datetime64[D]") \
            .view(np.int64)
        if cal.tobytes() not in self.cals:
            self.cals[cal.tobytes()] = self.cal_len + L
            self.cal_parts.append(np.concatenate([np.full(L, inference._NO_DATE), cal,
                                                  np.full(L, inference._NO_DATE)]))
            self.cal_len += len(cal) + 2 * L
        pos = b.d0[s] + rel[0]
        if len(pos) and (pos.min() < -L or pos.max() >= len(cal)):
            raise ValueError("a pair's day 0 is off its calendar")
        self.POS[c] = self.cals[cal.tobytes()] + pos
        self.DOF[c] = r.dof[s]
        self.KEY[:, c] = (keys[s] if keys is not None else np.zeros((len(s), 2), np.uint64)).T

    def finish(self):
        """(GroupMatrix, each pair's column (-1: not studied), each column's pair, memo keys)
        over the studied pairs; the fill's arrays are handed over (call once)."""
        keep = np.flatnonzero(self.studied[self.order])       # the studied pairs' columns
        pair_of_col = self.order[keep]
        colpos = np.full(self.P, -1)
        colpos[pair_of_col] = np.arange(len(pair_of_col))
        cut = lambda a: None if a is None else _keep_columns(a, keep)  # noqa: E731
        AR, VAR, BAND, EST, EVT = (cut(a) for a in (self.AR, self.VAR, self.BAND, self.EST,
                                                    self.EVT))
        self.AR = self.VAR = self.BAND = self.EST = self.EVT = None
        L = len(self.rel)
        keys = pd.MultiIndex.from_arrays([self.ev[pair_of_col], self.se[pair_of_col]],
                                         names=["event_id", "series"])
        cal = np.concatenate(self.cal_parts) if self.cal_parts \
            else np.full(L, inference._NO_DATE)
        gm = inference.GroupMatrix.compact(
            keys, self.rel, AR, EST, EVT, self.DOF[keep], var=VAR,
            var_est=None if self.per_day_var else self.VAR_EST[keep],
            var_band=None if self.per_day_var else BAND, band=(self.j.start, self.j.stop),
            cal=cal, pos=self.POS[keep])
        return gm, colpos, pair_of_col, self.KEY[:, keep]


def _keep_columns(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """a[:, keep] (keep increasing), moved left within a's own buffer a row at a time: a
    C-contiguous (rows, len(keep)) view of it, not a second (days x pairs) matrix."""
    rows, n = a.shape[0], len(keep)
    if n == a.shape[1]:
        return a
    flat = a.reshape(-1)
    for i in range(rows):            # row i's values are copied out before they are written
        flat[i * n:(i + 1) * n] = a[i, keep]
    return flat[:rows * n].reshape(rows, n)


def _windows(sub, car, car_var, dof, n_days, inv, config):
    """The group's test windows: the event windows' CARs (`inv`: the pairs of the group's
    columns), and each day of their span read off the matrices."""
    out = []
    for w in test_windows(config):
        if w in config.event_windows:
            i = list(config.event_windows).index(w)
            out.append(inference.WindowCars(w[0], w[1], car[inv, i], car_var[inv, i],
                                            dof[inv, i], n_days[inv, i]))
        else:
            out.append(inference.WindowCars.from_day(sub, w[0]))
    return out


AAR_INPUT = ["event_id", "series", "model", "rel_day", "abnormal_return", "ar_se", "car_path",
             "car_path_se"]


def _studied_ar_rows(model_results, config):
    """For each block of one model with studied pairs: the pairs' positions in the study, the
    block, the window's abnormal returns and `_ar_rows` (the AAR paths' shared input)."""
    for part, r, b, _ in model_results:
        s = np.flatnonzero(r.reason == "")
        if len(s):
            abnormal = _abnormal(config, r, b, s)
            yield part[s], b, abnormal, _ar_rows(config, r, b, s, abnormal)


def _aar_input(pairs, results, models, config) -> pd.DataFrame:
    """The AR frame's AAR_INPUT columns, rows and order (by pair, then model; days in order),
    computed from the arrays as `_ar_part` does, without the other columns."""
    ev = pairs["event_id"].to_numpy(dtype=object)
    se = pairs["series"].to_numpy(dtype=object)
    parts = []
    for mi, m in enumerate(models):
        for pk, b, abnormal, (j, pi, wj, ar_se, path, path_se) in _studied_ar_rows(
                results[m], config):
            parts.append(pd.DataFrame({
                "_p": pk[pi], "_m": mi, "event_id": ev[pk[pi]], "series": se[pk[pi]],
                "model": m, "rel_day": b.rel[j][wj], "abnormal_return": abnormal[pi, wj],
                "ar_se": ar_se, "car_path": path, "car_path_se": path_se}))
    return _ordered(parts, AAR_INPUT)


def _aar_arrays(pairs, results, models, config, groups, member_of, kernels) -> pd.DataFrame:
    """`group_aar` of the AR rows, bit for bit, from the blocks' arrays: each model's window
    arrays once as (pairs x days) matrices (NaN where a pair has no row), then each group's
    sums over its member pairs in pair order (`_fastkernels.group_day_sums`, Kahan as pandas'
    groupby). At 500,000 pairs the AR frame and its merge with the groups' members were
    ~2 GB of rows; these matrices are ~350 MB."""
    P = len(pairs)
    wrel = np.arange(window_span(config)[0], window_span(config)[1] + 1)
    W = len(wrel)
    members = [np.flatnonzero(mask) for _, mask in member_of]
    parts = []                  # (group rank, model, stats (7, W))
    for m in models:
        ar, ar_var, path, path_var = (np.full((P, W), np.nan) for _ in range(4))
        has = np.zeros((P, W), bool)
        for pk, _, abnormal, (_, pi, wj, ar_se, cpath, path_se) in _studied_ar_rows(
                results[m], config):
            at = (pk[pi], wj)
            has[at] = True
            ar[at], ar_var[at] = abnormal[pi, wj], ar_se ** 2
            path[at], path_var[at] = cpath, path_se ** 2
        # each group's sums are its own (a kernel that lets go of the GIL): on the threads
        sums = kernel_map(lambda rows: kernels.group_day_sums(rows, ar, ar_var, path,
                                                              path_var, has), members)
        parts.extend((g, m, st) for g, st in enumerate(sums))
        del ar, ar_var, path, path_var, has
    cols = {k: [] for k in ("_g", "group", "model", "rel_day", "n", "aar", "aar_se", "caar",
                            "caar_se")}
    for g, m, st in parts:
        d = np.flatnonzero(st[0] > 0)
        n_a, n_c = st[1, d].astype(np.int64), st[4, d].astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["aar"].append(np.where(n_a > 0, st[2, d] / n_a, np.nan))
            cols["aar_se"].append(np.sqrt(st[3, d]) / n_a)
            cols["caar"].append(np.where(n_c > 0, st[5, d] / n_c, np.nan))
            cols["caar_se"].append(np.sqrt(st[6, d]) / n_c)
        cols["n"].append(n_a)
        cols["rel_day"].append(wrel[d])
        cols["_g"].append(np.full(len(d), g, np.int64))
        cols["group"].append(np.full(len(d), groups[g][0], dtype=object))
        cols["model"].append(np.full(len(d), m, dtype=object))
    if not parts or not sum(len(v) for v in cols["n"]):
        return pd.DataFrame(columns=AAR_COLUMNS)
    frame = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    for k in ("group", "model"):
        frame[k] = frame[k].astype(str)
    frame = frame.sort_values(["_g", "model", "rel_day"], kind="stable")
    return frame[AAR_COLUMNS].reset_index(drop=True)


def group_aar(ar: pd.DataFrame, groups: list) -> pd.DataFrame:
    """AAR and CAAR paths of every group, by model and event day (for charts and tables).

    The bands assume independent pairs; the group tests in tests.csv do not.
    """
    if ar.empty or not groups:
        return pd.DataFrame(columns=AAR_COLUMNS)
    member = pd.concat([m[["event_id", "series"]].assign(group=gid) for gid, m in groups],
                       ignore_index=True).drop_duplicates()
    sub = ar[AAR_INPUT].merge(member, on=["event_id", "series"])
    if sub.empty:
        return pd.DataFrame(columns=AAR_COLUMNS)
    sub = sub.assign(ar_var=sub["ar_se"] ** 2, path_var=sub["car_path_se"] ** 2)
    g = sub.groupby(["group", "model", "rel_day"], sort=False)
    frame = pd.DataFrame({
        "n": g["abnormal_return"].count(),
        "aar": g["abnormal_return"].mean(),
        "aar_se": np.sqrt(g["ar_var"].sum()) / g["abnormal_return"].count(),
        "caar": g["car_path"].mean(),
        "caar_se": np.sqrt(g["path_var"].sum()) / g["car_path"].count(),
    }).reset_index()
    rank = {gid: i for i, (gid, _) in enumerate(groups)}
    frame = frame.assign(_g=frame["group"].map(rank)).sort_values(
        ["_g", "model", "rel_day"], kind="stable")
    return frame[AAR_COLUMNS].reset_index(drop=True)
