"""Checks of vendor closes, vectorised over a (dates x securities) matrix.

Vendor data is checked, not trusted, but a bad file must not stop a study of a thousand
securities: every problem becomes one row of a tidy `problems` frame saying what was done —
drop a bar (it becomes a reported gap), skip a security, or flag a day (the engine skips the
pairs whose windows contain it) — and nothing here raises for bad data.

The rules, in order:
* a date that appears twice for one security with different prices: skip the security (which
  price is right is a guess); with the same price: keep one (a harmless repeat);
* dates out of order: sorted, with a note;
* a missing, non-finite, zero or negative close: drop the bar;
* fewer than two prices, or all prices equal (a stale feed or the wrong column): skip;
* a one-day move by a factor of IMPOSSIBLE_JUMP or more: skip (no listed stock does that; a
  broken adjustment does);
* a split-like jump: a close-to-close ratio within SPLIT_TOLERANCE (in log terms) of k or 1/k
  for k in SPLIT_RATIOS. If the price comes back within REVERSAL_SESSIONS bars it was a bad
  print: its bars are dropped. If not, the day is flagged as a possible unadjusted split.
  The tolerance is tight on purpose: real earnings crashes of 40-50 % (Fiserv -44 % on
  2025-10-29, Globe Life -53 % on 2024-04-11) are not within 3 % of a half, while a split's
  ratio is k times one day's return (Shimamura 8227.T, 2026-02-18: 0.3364, 0.9 % from 1/3).
  Ratios 3/2 and 2/3 are not checked: real one-day moves of +-33-50 % land on them too often
  (SMCI -33.3 % on 2026-03-20, HOOD +50.4 % on 2021-08-04).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PROBLEM_COLUMNS = ["security", "date", "kind", "action", "reason"]
ACTIONS = ("skip security", "drop bar", "flag day", "note")
SPLIT_RATIOS = (2, 3, 4, 5, 10)
SPLIT_TOLERANCE = 0.03        # |log(ratio) -+ log(k)|: 3 %
REVERSAL_SESSIONS = 5         # a jump undone within this many bars was a bad print
IMPOSSIBLE_JUMP = 100.0       # a one-day factor of 100 (or 1/100) is a broken series


@dataclass(frozen=True)
class Checked:
    """Closes after the checks (sorted unique dates; skipped securities' columns removed;
    dropped bars NaN) and what was done, one row per problem."""
    closes: pd.DataFrame
    problems: pd.DataFrame


def empty_problems() -> pd.DataFrame:
    return _problems([], [], [], [], [])


def _problems(security, date, kind, action, reason) -> pd.DataFrame:
    """A problems frame; `kind`, `action` and `reason` may be one string for every row."""
    security = np.asarray(security, dtype=object)
    n = len(security)

    def column(value):
        return np.full(n, value, dtype=object) if isinstance(value, str) else np.asarray(
            value, dtype=object)
    return pd.DataFrame({
        "security": security,
        "date": pd.to_datetime(pd.Index(date if isinstance(date, np.ndarray) else list(date),
                                        dtype="datetime64[ns]")),
        "kind": column(kind), "action": column(action), "reason": column(reason)})


def check_series(frame: pd.DataFrame, security: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A single series' `date, close` frame checked: (the clean `date, close` frame, problems).

    A skipped series comes back empty (the problems say why)."""
    long = pd.DataFrame({"security": security, "date": frame["date"], "close": frame["close"]})
    checked = check_long(long)
    if security not in checked.closes.columns:
        clean = pd.DataFrame({"date": pd.Series([], dtype="datetime64[ns]"),
                              "close": pd.Series([], dtype="float64")})
    else:
        col = checked.closes[security].dropna()
        clean = pd.DataFrame({"date": col.index.to_numpy(), "close": col.to_numpy()})
    return clean, checked.problems


def check_long(frame: pd.DataFrame, *, security: str = "security", date: str = "date",
               close: str = "close") -> Checked:
    """Check rows of (security, date, close) in file order and pivot them to a closes matrix.

    A NaN close on a row is a missing price (its bar is dropped and reported), a NaT date a
    date that did not parse. Duplicate and unsorted dates are handled here; the rest by
    `check_closes`."""
    codes, names = pd.factorize(frame[security], sort=True)   # hashing: fast on 1M rows
    names = np.asarray(names.astype(str), dtype=object)
    sec = names[codes]
    dates = _naive_days(pd.DatetimeIndex(frame[date])).to_numpy()
    values = pd.to_numeric(frame[close], errors="coerce").to_numpy(dtype="float64")
    parts = []

    bad_date = np.isnat(dates)
    if bad_date.any():
        parts.append(_problems(sec[bad_date], [pd.NaT] * int(bad_date.sum()), "bad date",
                               "drop bar", "a row whose date does not parse"))
    missing = np.isnan(values) & ~bad_date
    if missing.any():
        parts.append(_problems(sec[missing], dates[missing], "missing price", "drop bar",
                               "no close on this row (blank or not a number)"))
    keep = ~bad_date & ~missing
    codes, dates, values = codes[keep], dates[keep], values[keep]

    # unsorted: a date earlier than the one before it, for the same security, in file order
    same = codes[1:] == codes[:-1]
    back = same & (dates[1:] < dates[:-1])
    if back.any():
        who = np.unique(codes[1:][back])
        parts.append(_problems(names[who], [pd.NaT] * len(who), "unsorted dates", "note",
                               "dates not in order in the file: sorted"))

    order = np.lexsort((dates, codes))
    codes, dates, values = codes[order], dates[order], values[order]
    dup_next = (codes[1:] == codes[:-1]) & (dates[1:] == dates[:-1])
    skipped = np.zeros(len(names), dtype=bool)
    if dup_next.any():
        in_run = np.zeros(len(codes), dtype=bool)     # rows of a duplicated (security, date)
        in_run[1:] |= dup_next
        in_run[:-1] |= dup_next
        run_start = np.flatnonzero(in_run & ~np.r_[False, dup_next])
        run_id = np.cumsum(in_run & ~np.r_[False, dup_next]) - 1
        rows = np.flatnonzero(in_run)
        lo = np.minimum.reduceat(values[rows], np.searchsorted(rows, run_start))
        hi = np.maximum.reduceat(values[rows], np.searchsorted(rows, run_start))
        count = np.bincount(run_id[rows])
        differ = lo != hi
        run_codes, run_dates = codes[run_start], dates[run_start]
        bad_codes, first = np.unique(run_codes[differ], return_index=True)
        if len(bad_codes):
            skipped[bad_codes] = True
            i = np.flatnonzero(differ)[first]
            parts.append(_problems(
                names[bad_codes], run_dates[i], "duplicate date", "skip security",
                [f"{pd.Timestamp(d):%Y-%m-%d} appears {n} times with different closes "
                 f"({a:g} to {b:g}): which is right is a guess"
                 for d, n, a, b in zip(run_dates[i], count[i], lo[i], hi[i])]))
        same_runs = ~differ & ~skipped[run_codes]
        if same_runs.any():
            parts.append(_problems(
                names[run_codes[same_runs]], run_dates[same_runs], "duplicate date",
                "drop bar", [f"appears {n} times with the same close: one kept"
                             for n in count[same_runs]]))
        keep = ~np.r_[False, dup_next] & ~skipped[codes]
        codes, dates, values = codes[keep], dates[keep], values[keep]

    rows, index = pd.factorize(dates, sort=True)
    index = np.asarray(index, dtype="datetime64[ns]")
    matrix = np.full((len(index), len(names)), np.nan)
    matrix[rows, codes] = values
    closes = pd.DataFrame(matrix, index=pd.DatetimeIndex(index, name="date"),
                          columns=pd.Index(names, name="security"))
    closes = closes.loc[:, ~skipped]
    # a security left with no bar at all is reported by check_closes ("no prices")
    checked = check_closes(closes, _sorted=True)
    return Checked(checked.closes, _concat(parts + [checked.problems]))


def check_closes(closes: pd.DataFrame, *, _sorted: bool = False) -> Checked:
    """Check a (dates x securities) matrix of closes; NaN = no bar.

    The index may be unsorted or repeat dates (a wide file's duplicated row): such input goes
    through `check_long`. Dates are made naive and normalized."""
    if not _sorted:
        index = _naive_days(pd.DatetimeIndex(closes.index))
        if not (index.is_unique and index.is_monotonic_increasing and not index.hasnans):
            stacked = closes.set_axis(index, axis=0).rename_axis("date").reset_index()
            long = stacked.melt(id_vars="date", var_name="security", value_name="close")
            long = long[long["close"].notna() | long["date"].isna()]
            checked = check_long(long.reset_index(drop=True))
            absent = [str(c) for c in closes.columns
                      if str(c) not in set(checked.problems["security"])
                      and str(c) not in set(checked.closes.columns)]
            return Checked(checked.closes, _concat([checked.problems, _problems(
                absent, [pd.NaT] * len(absent), "no prices", "skip security", "no prices")]))
        closes = closes.set_axis(index.rename("date"), axis=0)
    names = closes.columns.astype(str).to_numpy()
    # copied when a bar is dropped (`own`), in the input's memory order (a Fortran-ordered
    # matrix of a wide file stays security-major for the panel)
    values = closes.to_numpy(dtype="float64")
    copied = []

    def own():
        nonlocal values
        if not copied:
            values = np.array(values, order="K", copy=True)
            copied.append(True)
        return values
    dates = closes.index.to_numpy()
    parts = []

    # bars that are not prices
    bad = ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r, c = cells(bad, ordered=True)
        v = values[r, c]
        parts.append(_problems(names[c], dates[r],
                               np.where(np.isfinite(v), "non-positive price", "non-finite price"),
                               "drop bar", [f"close {x:g} is not a positive price" for x in v]))
        own()[bad] = np.nan

    valid = ~np.isnan(values)
    n_valid = valid.sum(axis=0)
    skip_reason = np.full(len(names), None, dtype=object)
    with np.errstate(invalid="ignore"):         # one pass each (fmin/fmax skip NaN)
        lo = np.where(n_valid > 0, np.fmin.reduce(values, axis=0), np.inf)
        hi = np.where(n_valid > 0, np.fmax.reduce(values, axis=0), -np.inf)
    skip_reason[n_valid == 0] = "no prices"
    few = n_valid == 1
    skip_reason[few] = "only one price: no returns"
    const = (n_valid >= 2) & (lo == hi)
    skip_reason[const] = [f"all {n} closes are {v:g}: constant returns, nothing to study "
                          "(a stale feed or the wrong column?)"
                          for n, v in zip(n_valid[const], lo[const])]
    kinds = np.where(n_valid == 0, "no prices", np.where(few, "too few prices", "constant"))

    # one-day log ratios against each security's previous bar (across gaps): a difference
    # of consecutive rows, then the few bars right after a gap against their previous bar
    S, N = values.shape
    rows = np.arange(S, dtype=np.int32 if S < 2 ** 31 else np.int64)[:, None]
    last = np.empty_like(valid, dtype=rows.dtype)   # each row's last bar at or before it
    last.fill(-1)                                   # (in the matrix's memory order)
    np.copyto(last, rows, where=valid)
    np.maximum.accumulate(last, axis=0, out=last)

    def prev(r, c):                          # the bar before row r of security c (-1: none)
        return last[r - 1, c] if r > 0 else -1

    # a split-like ratio or an impossible jump is at least a factor 2 - 3 %: only such
    # bars are looked at below (the same tests as on every bar; the margin is generous)
    logk = np.log(np.asarray(SPLIT_RATIOS, dtype=float))
    br, bc, bsize = _big_log_ratios(values, valid, last,
                                    logk.min() - SPLIT_TOLERANCE - 1e-9)

    jump = bsize >= np.log(IMPOSSIBLE_JUMP)
    impossible = np.zeros(N, bool)
    impossible[bc[jump]] = True
    impossible &= skip_reason == None  # noqa: E711 - numpy elementwise
    if impossible.any():
        for c in np.flatnonzero(impossible):
            mine = jump & (bc == c)
            r = int(br[np.argmax(mine)])
            a, b = values[prev(r, c), c], values[r, c]
            skip_reason[c] = (f"close jumps from {a:g} to {b:g} (x{b / a:.3g}) on "
                              f"{pd.Timestamp(dates[r]):%Y-%m-%d}: not a price series "
                              f"({int(mine.sum())} such jumps)")
        kinds = np.where(impossible, "impossible jump", kinds)

    skip = skip_reason != None  # noqa: E711
    if skip.any():
        parts.append(_problems(names[skip], [pd.NaT] * int(skip.sum()), kinds[skip],
                               "skip security", skip_reason[skip]))

    # split-like jumps (rare: the loop runs over candidates, not over days or securities)
    near = np.zeros(len(br), dtype=bool)
    for lk in logk:
        near |= np.abs(bsize - lk) <= SPLIT_TOLERANCE
    near &= ~skip[bc]
    for r, c, size in zip(br[near], bc[near], bsize[near]):
        if not valid[r, c]:        # dropped as part of an earlier bad print
            continue
        earlier = np.flatnonzero(valid[:r, c])
        if earlier[-1] != prev(r, c):   # its previous bar was a dropped bad print: recheck
            size = abs(np.log(values[r, c] / values[earlier[-1], c]))
            if np.abs(size - logk).min() > SPLIT_TOLERANCE:
                continue
        before = values[earlier[-1], c]
        k = SPLIT_RATIOS[int(np.argmin(np.abs(size - logk)))]
        after = np.flatnonzero(valid[r + 1:, c])[:REVERSAL_SESSIONS] + r + 1
        back = after[np.abs(np.log(values[after, c] / before)) <= SPLIT_TOLERANCE * 3]
        ratio = values[r, c] / before
        label = f"{k}" if ratio > 1 else f"1/{k}"
        day = pd.Timestamp(dates[r])
        if len(back):
            gone = np.flatnonzero(valid[r:back[0], c]) + r
            parts.append(_problems(
                [names[c]] * len(gone), dates[gone], "bad print", "drop bar",
                f"close jumps x{ratio:.4f} (about {label}) on {day:%Y-%m-%d} and is back on "
                f"{pd.Timestamp(dates[back[0]]):%Y-%m-%d}: a bad print"))
            own()[gone, c] = np.nan
            valid[gone, c] = False
        else:
            parts.append(_problems(
                [names[c]], [day], "split-like jump", "flag day",
                f"close ratio {ratio:.4f} (about {label}: {before:g} to {values[r, c]:g}), "
                f"not reversed within {REVERSAL_SESSIONS} sessions: an unadjusted split?"))

    # (the kept columns in the matrix's memory order; frames share arrays: copy-on-write)
    kept = values if not skip.any() else values.T[~skip].T if values.flags.f_contiguous \
        else values[:, ~skip]
    out = pd.DataFrame(kept, index=closes.index,
                       columns=pd.Index(names[~skip], name="security"), copy=False)
    return Checked(out, _concat(parts))


def _big_log_ratios(values, valid, last, threshold: float, block: int = 256):
    """(rows, cols, |log ratio|), in row-major order, of the bars whose log ratio to their
    security's previous bar (across gaps: `last`, each row's last bar) is at least
    `threshold`: a block of securities at a time, so that the log prices and ratios are a
    few MB reused block after block, not (S x N) arrays of fresh memory (at 10,000
    securities x 20 years, 400 MB each, and their page faults cost more than the logs)."""
    S, N = values.shape
    found = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for c0 in range(0, N, block):
            ok = valid[:, c0:c0 + block]
            lv = np.log(values[:, c0:c0 + block])
            ratio = np.empty_like(lv)
            ratio[:1] = np.nan
            np.subtract(lv[1:], lv[:-1], out=ratio[1:])
            rr, cc = cells(ok[1:] & ~ok[:-1])
            rr += 1
            pr = last[rr - 1, cc + c0]
            ratio[rr, cc] = np.where(pr >= 0, lv[rr, cc] - lv[np.maximum(pr, 0), cc], np.nan)
            size = np.abs(ratio)
            r, c = cells(size >= threshold)
            found.append((r, c + c0, size[r, c]))
    if not found:
        return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
    r, c, size = (np.concatenate(x) for x in zip(*found))
    order = np.lexsort((c, r))
    return r[order], c[order], size[order]


def cells(mask: np.ndarray, ordered: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the True cells of a 2-D mask: in row-major order when `ordered` (as
    np.nonzero), else in the mask's memory order. A Fortran-ordered (security-major) mask is
    read column by column: np.nonzero would walk it row by row, across the memory (3x slower
    on a market's panel)."""
    if mask.flags.f_contiguous and not mask.flags.c_contiguous:
        c, r = np.nonzero(mask.T)
        if ordered and len(r):
            o = np.lexsort((c, r))
            r, c = r[o], c[o]
        return r, c
    return np.nonzero(mask)


def _naive_days(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Session dates: naive (a zone-aware stamp keeps its local date) and at midnight."""
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.normalize().astype("datetime64[ns]")


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_problems()
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["security", "date"], kind="stable", na_position="first")
    text = ["security", "kind", "action", "reason"]
    out[text] = out[text].astype(object)        # one dtype whatever the parts were
    return out.reset_index(drop=True)
