"""One calendar's sessions x securities as arrays: returns, gaps, spans and regressors.

Why: securities that share a calendar and a close rule share their session dates, their close
instants, the day 0 of every global event and the benchmark's as-of index. All of that is
computed here once per calendar, for every security at once, instead of once per series.

Conventions (docs/methods.md), the same as `returns.session_returns`/`benchmark_returns`, which
stay as the readable one-series reference: a return belongs to the later of its two bars; a
session of the calendar with no bar between a security's first and last bar is a gap (its
return is missing, never zero) and the next bar's return spans both sessions (`span` = 2);
the benchmark's price is taken as of each of the security's closes (its last close at or
before that instant), so a Tokyo session is matched with the previous US session.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy.data.checks import cells


@dataclass
class Panel:
    """Rows are the calendar's sessions `offset .. offset + S - 1`, columns the securities."""
    key: tuple                      # (calendar, close_time, close_tz): the close rule shared
    calendar_closes: pd.Series      # every session of the calendar: naive date -> UTC close
    offset: int                     # calendar position of row 0
    securities: list[str]
    close: np.ndarray               # (S, N) bar close, NaN where no bar
    exists: np.ndarray              # (S, N) between the security's first and last bar
    valid: np.ndarray               # (S, N) has a bar
    prev: np.ndarray                # (S, N) row of the previous bar, -1 if none
    ret: np.ndarray                 # (S, N) return since the previous bar, NaN at gaps
    #                                 (span: sessions the return covers, derived: `span`)
    first_row: np.ndarray           # (N,) row of the first bar (may be < 0: see below)
    last_row: np.ndarray            # (N,)
    regressors: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (S, N)
    #                                 (an array, or `DerivedColumns` computed when read)
    has: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (N,) who has it
    bench_close: np.ndarray | None = None   # (B, S) int64 ns: each benchmark's last close
    #                                         at or before each row's close (`bench_closes`)
    bench_of: np.ndarray | None = None      # (N,) which row of bench_close (-1: none)

    def bench_interval_at(self, rows: np.ndarray, cols: np.ndarray) -> tuple:
        """The close instants (int64 ns) of the benchmark bars that start and end the
        benchmark interval of the returns at (rows, cols) (int64 min where there is none):
        `bench_intervals` at those cells, without a (2, S, N) array of them all."""
        none = np.iinfo(np.int64).min
        if self.bench_close is None or not self.close.shape[0] or not len(self.bench_close):
            return np.full(rows.shape, none, np.int64), np.full(rows.shape, none, np.int64)
        b = self.bench_of[cols]
        prev = self.prev[rows, cols]
        has = self.valid[rows, cols] & (prev >= 0) & (b >= 0)
        bb = np.maximum(b, 0)
        end = np.where(has, self.bench_close[bb, rows], none)
        start = np.where(has, self.bench_close[bb, np.where(has, prev, 0)], none)
        return start, end

    @property
    def gap(self) -> np.ndarray:
        return self.exists & ~self.valid

    @property
    def span_columns(self) -> "DerivedColumns":
        """(S, N) sessions each return covers (NaN where there is none: no bar, or no
        earlier bar), computed for the columns or cells read: it is the row less the
        previous bar's row, so it is not stored (400 MB at a market's size)."""
        prev, valid = self.prev, self.valid

        def columns(cols, out=None):
            p = prev[:, cols]
            if out is None:
                out = np.empty(p.shape, order="F")
            out.fill(np.nan)
            with np.errstate(invalid="ignore"):     # (numpy's buffered cast of the rows)
                np.subtract(np.arange(p.shape[0])[:, None], p, out=out,
                            where=valid[:, cols] & (p >= 0))
            return out

        def cells(rows, cols):
            p = prev[rows, cols]
            return np.where(valid[rows, cols] & (p >= 0), rows - p, np.nan)
        return DerivedColumns(prev.shape, columns, cells)

    @property
    def span(self) -> np.ndarray:
        """The whole (S, N) `span_columns` (a new array each time it is read)."""
        return self.span_columns[:, :]

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.calendar_closes.index[self.offset:self.offset + self.close.shape[0]]

    @property
    def close_ns(self) -> np.ndarray:
        """UTC close instants of the rows as int64 nanoseconds (plain arrays for workers)."""
        values = self.calendar_closes.array[self.offset:self.offset + self.close.shape[0]]
        return pd.DatetimeIndex(values).as_unit("ns").asi8

    def column(self, security: str) -> int:
        return self.securities.index(security)

    def bars(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Close instants (int64 ns) and closes of security `i`'s bars, in time order."""
        rows = np.flatnonzero(self.valid[:, i])
        return self.close_ns[rows], self.close[rows, i]

    def series_frame(self, security: str) -> pd.DataFrame:
        """Today's one-series frame (`returns.session_returns` plus regressors) of a security."""
        i = self.column(security)
        rows = np.flatnonzero(self.exists[:, i])
        gap = self.gap[rows, i]
        frame = pd.DataFrame({
            "date": self.dates[rows],
            "close_utc": self.calendar_closes.array[self.offset + rows],
            "pos": self.offset + rows,
            "close": self.close[rows, i],
            "gap": gap,
            "ret": self.ret[rows, i],
            "span": self.span_columns[rows, i]})
        for name, values in self.regressors.items():
            if self.has[name][i]:
                frame[name] = values[rows, i]
        return frame


def build_panel(key: tuple, calendar_closes: pd.Series, bars: dict[str, pd.DataFrame],
                kind: str = "log") -> tuple[Panel, pd.DataFrame]:
    """A panel from each security's bars (`date`, `close` frames, any order of securities).

    Returns the panel and the bars dated on days that are not sessions of the calendar
    (security, date, close): reported, not used.
    """
    securities = list(bars)
    long = pd.concat([b[["date", "close"]].assign(security=s) for s, b in bars.items()],
                     ignore_index=True) if bars else pd.DataFrame(columns=["date", "close",
                                                                           "security"])
    return _panel_from_long(key, calendar_closes, securities, long, kind)


def build_panel_wide(key: tuple, calendar_closes: pd.Series, closes: pd.DataFrame,
                     kind: str = "log") -> tuple[Panel, pd.DataFrame]:
    """A panel from a wide frame of closes (date index x securities, NaN = no bar)."""
    session_dates = calendar_closes.index
    securities = [str(c) for c in closes.columns]
    values = closes.to_numpy(dtype=float)
    dates = pd.DatetimeIndex(closes.index).as_unit("ns")
    has = np.isfinite(values)
    # first and last bar of each security (all bars, sessions or not: as session_returns)
    any_bar = has.any(axis=0)
    first_date = dates[np.where(any_bar, has.argmax(axis=0), 0)]
    last_date = dates[np.where(any_bar, len(dates) - 1 - has[::-1].argmax(axis=0), 0)]
    on_session = session_dates.get_indexer(dates)
    off = (on_session < 0)[:, None] & has
    rr, cc = cells(off, ordered=True)
    off_calendar = pd.DataFrame({"security": np.asarray(securities, dtype=object)[cc],
                                 "date": dates[rr], "close": values[rr, cc]})
    first_row = session_dates.searchsorted(first_date, side="left")
    last_row = session_dates.searchsorted(last_date, side="right") - 1
    first_row = np.where(any_bar, first_row, 0)
    last_row = np.where(any_bar, last_row, -1)
    if not (on_session >= 0).all():
        values = values[on_session >= 0]
    return _assemble(key, calendar_closes, securities, values, on_session[on_session >= 0],
                     first_row, last_row, kind), off_calendar


def _panel_from_long(key, calendar_closes, securities, long, kind):
    if not len(securities):
        return _assemble(key, calendar_closes, [], np.empty((0, 0)), np.empty(0, int),
                         np.empty(0, int), np.empty(0, int), kind), \
            pd.DataFrame(columns=["security", "date", "close"])
    wide = long.pivot(index="date", columns="security", values="close")
    wide = wide.reindex(columns=securities).sort_index()
    return build_panel_wide(key, calendar_closes, wide, kind)


def _assemble(key, calendar_closes, securities, values, rows, first_row, last_row, kind):
    """Place the session bars (`values` at calendar rows `rows`) and derive returns."""
    n = len(securities)
    if n == 0 or (last_row < first_row).all():
        offset, S = 0, 0
    else:
        ok = last_row >= first_row
        offset = int(first_row[ok].min())
        S = int(last_row[ok].max()) - offset + 1
    # every (S, n) array security-major in memory (Fortran order): a security's sessions
    # are contiguous, as the fused kernel reads them (engine.slab takes views, no copies)
    full = lambda dtype: np.empty((S, n), dtype, order="F")  # noqa: E731
    inside = (rows >= offset) & (rows < offset + S)
    # every row, in order (a wide file's dates), security-major: the panel reads the
    # closes in place (never writes them) unless a cell must become NaN (below)
    shared = (len(rows) and inside.all() and rows[-1] - rows[0] + 1 == len(rows) == S
              and values.dtype == np.float64 and values.flags.f_contiguous)
    if shared:
        close = values
    else:
        close = full(float)
        close.fill(np.nan)
        close[rows[inside] - offset] = values[inside]
    r = np.arange(S, dtype=np.int32 if S < 2 ** 31 else np.int64)[:, None]
    exists, valid = full(bool), full(bool)
    prev, ret = full(r.dtype), full(float)
    # every step is column by column: at a market's size the columns are cut in a few
    # slices filled side by side (the same values; half the wall time of the fresh memory)
    parts = _column_slices(S, n)

    def masks(c):
        """exists and valid of the columns `c`; (finite closes, valid bars, any inf)."""
        ex, va = exists[:, c], valid[:, c]
        np.greater_equal(r, (first_row[c] - offset)[None, :], out=ex)
        ex &= r <= (last_row[c] - offset)[None, :]
        np.isfinite(close[:, c], out=va)
        finite = np.count_nonzero(va) if shared else 0
        va &= ex
        return finite, np.count_nonzero(va), bool(shared and np.isinf(close[:, c]).any())

    counts = _side_by_side(masks, parts)
    if shared and (sum(c[0] for c in counts) != sum(c[1] for c in counts)
                   or any(c[2] for c in counts)):
        close = np.array(close, order="F")      # an infinite close, or a bar off the rows
        shared = False

    def returns(c):
        """prev and ret of the columns `c` (span is derived from them: `Panel.span`)."""
        cl, va, pv, rt = close[:, c], valid[:, c], prev[:, c], ret[:, c]
        if not shared:
            np.copyto(cl, np.nan, where=~va)
        # each row's previous bar: the row before it, except right after a gap (few rows)
        if S:
            pv.fill(-1)
            np.copyto(pv[1:], r[:-1], where=va[:-1])
            np.maximum.accumulate(pv, axis=0, out=pv)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = rt                    # the price ratios, then their logs in place
            ratio[:1] = np.nan
            np.divide(cl[1:], cl[:-1], out=ratio[1:])          # NaN unless both are bars
            rr, cc = cells(va[1:] & ~va[:-1])       # (any order: assigned)
            rr += 1
            pr = pv[rr, cc]
            after = pr >= 0                                     # a bar after a gap
            ratio[rr[after], cc[after]] = cl[rr[after], cc[after]] / cl[pr[after],
                                                                        cc[after]]
            if kind == "log":
                np.log(ratio, out=rt)
            else:
                np.subtract(ratio, 1.0, out=rt)

    _side_by_side(returns, parts)
    return Panel(key=key, calendar_closes=calendar_closes, offset=offset,
                 securities=list(securities), close=close, exists=exists, valid=valid,
                 prev=prev, ret=ret, first_row=first_row - offset,
                 last_row=last_row - offset)


#: cells of a panel past which `_assemble` fills its columns on a few threads
THREADED_CELLS = 20_000_000


def _column_slices(S: int, n: int) -> list:
    """The column slices `_assemble` fills side by side: one (all) below `THREADED_CELLS`."""
    from eventstudy.executors import kernel_threads
    k = kernel_threads() if S * n > THREADED_CELLS else 1
    edges = np.linspace(0, n, min(k, max(n, 1)) + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _side_by_side(fn, parts: list) -> list:
    from eventstudy.executors import side_by_side
    return side_by_side(*[lambda c=c: fn(c) for c in parts], threads=len(parts) > 1)


def asof_prices(panel: Panel, bench_ns: np.ndarray, bench_close: np.ndarray) -> np.ndarray:
    """The benchmark's last close at or before each row's close instant (NaN before its first)."""
    at = np.searchsorted(bench_ns, panel.close_ns, side="right") - 1
    return np.where(at >= 0, bench_close[np.maximum(at, 0)], np.nan)


def interval_returns(panel: Panel, asof: np.ndarray, columns: np.ndarray,
                     kind: str = "log", out: np.ndarray | None = None) -> np.ndarray:
    """(S, len(columns)) returns of an as-of price over each security's own bar intervals
    (written to `out` when given).

    A bar right after another is the as-of price's one-row return (one vector for every
    security); only the few bars after a gap need their own interval."""
    every = len(columns) == panel.valid.shape[1] and np.array_equal(
        columns, np.arange(len(columns)))
    valid = panel.valid if every else panel.valid[:, columns]
    S = valid.shape[0]
    if out is None:
        out = np.empty(valid.shape, order="F")      # (the panel's memory order)
    if not S:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        step = asof[1:] / asof[:-1]
        step = np.log(step) if kind == "log" else step - 1.0

        def fill(c):
            """The one-row returns of the columns `c` (NaN unless a bar follows a bar): at a
            market's size in a few column slices side by side (400 MB of fresh memory)."""
            o, va = out[:, c], valid[:, c]
            o.fill(np.nan)
            np.copyto(o[1:], step[:, None], where=va[1:] & va[:-1])

        _side_by_side(fill, _column_slices(*valid.shape))
        rr, cc = cells(valid[1:] & ~valid[:-1])       # (any order: assigned)
        rr += 1
        prev = (panel.prev if every else panel.prev[:, columns])[rr, cc]
        after = prev >= 0
        ratio = asof[rr[after]] / asof[prev[after]]
        out[rr[after], cc[after]] = np.log(ratio) if kind == "log" else ratio - 1.0
    return out


def interval_columns(panel: Panel, asof: np.ndarray, kind: str = "log") -> "DerivedColumns":
    """`interval_returns` of every column, computed for the columns or cells read instead of
    stored (400 MB of fresh memory at a market's size, for a regressor the fused kernel
    reads a few hundred columns at a time): the same numbers, by the same arithmetic."""
    N = panel.valid.shape[1]
    prev, valid = panel.prev, panel.valid
    with np.errstate(invalid="ignore", divide="ignore"):
        step = asof[1:] / asof[:-1]
        step = np.log(step) if kind == "log" else step - 1.0

    def columns(cols, out=None):
        return interval_returns(panel, asof, np.arange(N)[cols], kind, out)

    def cells(rows, cols):
        shape = rows.shape
        rows, cols = rows.ravel(), cols.ravel()
        out = np.full(len(rows), np.nan)
        if not valid.shape[0]:
            return out.reshape(shape)
        later = rows >= 1
        va = valid[rows, cols]
        before = valid[np.maximum(rows - 1, 0), cols] & later
        both = va & before                  # a bar right after a bar: the one-row step
        out[both] = step[rows[both] - 1]
        gap = np.flatnonzero(va & ~before & later)     # a bar after a gap
        p = prev[rows[gap], cols[gap]]
        gap, p = gap[p >= 0], p[p >= 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = asof[rows[gap]] / asof[p]
            out[gap] = np.log(ratio) if kind == "log" else ratio - 1.0
        return out.reshape(shape)
    return DerivedColumns(valid.shape, columns, cells)


class DerivedColumns:
    """An (S, N) float array of a panel that is computed when read, never stored whole:
    `a[:, cols]` computes those columns ((S, k), security-major like the stored arrays),
    `a[rows, cols]` with integer arrays those cells, anything else the whole array."""
    dtype = np.dtype(float)
    ndim = 2

    def __init__(self, shape, columns, cells):
        self.shape, self._columns, self._cells = tuple(shape), columns, cells

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        if isinstance(cols, list):
            cols = np.asarray(cols, dtype=np.int64)
        if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray) \
                and rows.dtype.kind in "iu" and cols.dtype.kind in "iu":
            rows, cols = np.broadcast_arrays(rows, cols)
            return self._cells(rows, cols)
        if isinstance(cols, (int, np.integer)):
            return self._columns(np.array([cols]))[:, 0][rows]
        if isinstance(cols, slice) or (isinstance(cols, np.ndarray)
                                       and cols.dtype.kind in "iu"):
            out = self._columns(cols)
            return out if isinstance(rows, slice) and rows == slice(None) else out[rows]
        return np.asarray(self)[key]

    def columns_into(self, cols, out: np.ndarray) -> np.ndarray:
        """`a[:, cols]` written to `out` ((S, k), e.g. the transpose of a (k, S) buffer)."""
        return self._columns(cols, out)

    def __array__(self, dtype=None, copy=None):
        out = self._columns(slice(None))
        return out if dtype is None else out.astype(dtype)

    def __len__(self):
        return self.shape[0]


def bench_intervals(panel: Panel, bench_ns: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(2, S, len(columns)) int64: the close instants of the benchmark bars that start and end
    each security return's benchmark interval (int64 min where there is none): an
    announcement inside (start, end] means the benchmark reacted to it too. The reference of
    `Panel.bench_interval_at`, which gives the same for a few rows."""
    at = np.searchsorted(bench_ns, panel.close_ns, side="right") - 1
    none = np.iinfo(np.int64).min
    end_all = np.where(at >= 0, bench_ns[np.maximum(at, 0)], none)
    valid = panel.valid[:, columns]
    prev = panel.prev[:, columns]
    has_prev = valid & (prev >= 0)
    end = np.where(has_prev, end_all[:, None], none)
    start = np.where(has_prev, end_all[np.where(has_prev, prev, 0)], none)
    return np.stack([start, end])


def bench_closes(panel: Panel, bench_ns: np.ndarray) -> np.ndarray:
    """(S,) int64: the close instant of the benchmark's last bar at or before each row's
    close (int64 min before its first): what `Panel.bench_interval_at` reads."""
    at = np.searchsorted(bench_ns, panel.close_ns, side="right") - 1
    return np.where(at >= 0, bench_ns[np.maximum(at, 0)], np.iinfo(np.int64).min)


def shift_bars(values: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """At each bar, `values` at the bar k bars earlier (k > 0) or later (k < 0) of the same
    security; NaN where there is none or off the bars (Dimson lags and leads)."""
    col, row = np.nonzero(valid.T)             # bars ordered by security, then time
    vals = values[row, col]
    n = len(vals)
    src = np.arange(n) - k
    ok = (src >= 0) & (src < n)
    ok[ok] = col[src[ok]] == col[ok]
    shifted = np.full(n, np.nan)
    shifted[ok] = vals[src[ok]]
    out = np.full(values.shape, np.nan, order="F")
    out[row, col] = shifted
    return out
