"""Adjusted p-values for the many tests a study runs: Holm and Benjamini-Hochberg.

A study of 1,000 securities around 12 events reports 12,000 CAR p-values per model and
window; at 5 % some 600 of them are "significant" when nothing happened. Two adjustments are
added beside every `p_value`, with the arithmetic of statsmodels' `multipletests` done for
all families at once (`adjust_families`; the tests check it against `multipletests`):

* ``p_holm``: Holm (1979) step-down, which controls the family-wise error rate (the chance
  of even one false rejection in the family) under any dependence between the tests;
* ``p_bh``: Benjamini & Hochberg (1995), which controls the false discovery rate (the
  expected share of false rejections among the rejections); valid for independent tests and
  positively dependent ones (Benjamini & Yekutieli 2001), which same-day CARs are.

A test "survives" at level a when its adjusted p is below a. BH <= Holm always, so a test
that survives Holm survives BH.

The family (the set of tests adjusted together) is what one table of results asks at once:

* car: all pairs (event x security) of one model and one window;
* tests: all rows of one test, model and window at one level: the per-pair rows (the t-test
  and the bootstrap of each pair; the t rows are the CAR rows, and get the same adjusted p)
  form one family, the group rows (every group of the study) another.

Models are alternative measurements of the same effect, not further hypotheses, and each
window is a separate question (the windows of one pair are nested, so largely the same
evidence): neither is pooled into one family. A NaN p-value (no test: too few observations,
waiting for data) is not a test and stays NaN; it does not count in its family's size.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: column -> statsmodels method name (the same order as adjust_families returns them)
METHODS = {"p_holm": "holm", "p_bh": "fdr_bh"}
ALPHA = 0.05
SIDE_BY_SIDE_ROWS = 1_000_000   # car + tests rows past which the two are adjusted on 2 threads
CAR_FAMILY = ("model", "window_start", "window_end")
TESTS_FAMILY = ("_level", "test", "model", "window_start", "window_end")


def adjust(p, method: str) -> np.ndarray:
    """Adjusted p-values of one family by statsmodels' `multipletests` (any of its methods);
    NaN stays NaN and is not counted in the family. The reference `adjust_families` is
    tested against."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def add_adjusted(frame: pd.DataFrame, family, p_col: str = "p_value",
                 codes: np.ndarray | None = None) -> pd.DataFrame:
    """A copy of `frame` with p_holm and p_bh right after `p_col`, adjusted within each family
    (the rows sharing the values of the `family` columns, and of `codes` when given: an
    integer per row, e.g. the tests frame's level). Row order is kept."""
    out = frame.drop(columns=[c for c in METHODS if c in frame.columns])
    p = pd.to_numeric(out[p_col], errors="coerce").to_numpy(dtype=float) if len(out) \
        else np.empty(0)
    adjusted = dict(zip(METHODS, adjust_families(p, family_codes(out, family, codes))))
    at = out.columns.get_loc(p_col) + 1
    for i, col in enumerate(METHODS):
        out.insert(at + i, col, adjusted[col])
    return out


def family_codes(frame: pd.DataFrame, columns, codes: np.ndarray | None = None) -> np.ndarray:
    """(n,) int64: one code per distinct combination of the values of `columns` (NaN a value
    of its own) and of `codes`. Each column is factorized on its own (integers, and arrow
    strings without Python objects) and the codes combined as a mixed-radix number: no
    groupby over millions of tuples of strings."""
    out = np.zeros(len(frame), np.int64)
    parts = [frame[c] for c in columns] + ([np.asarray(codes)] if codes is not None else [])
    for values in parts:
        k, n = _codes(values)
        if n > 1 and int(out.max(initial=0)) >= 2 ** 62 // n:
            out = pd.factorize(out)[0].astype(np.int64)       # (never at a study's sizes)
        out = out * max(n, 1) + k
    return out


def _codes(values) -> tuple[np.ndarray, int]:
    """An integer code per value and the number of codes: a small-range integer column
    (windows, levels) is its own code less its minimum, without hashing its rows."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub" and len(values):
        arr = np.asarray(values)
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 2 ** 20:
            return arr.astype(np.int64) - lo, hi - lo + 1
    k, uniques = pd.factorize(values, use_na_sentinel=False)
    return k, len(uniques)


def adjust_families(p: np.ndarray, family: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Holm and BH adjusted p-values of every family at once (`family`: an integer code per
    row), the arithmetic of `multipletests`: within a family sorted by p (rank i of m),
    Holm = running max of (m - i + 1) p_(i), BH = running min from the top of p_(i) / (i / m),
    both capped at 1. Not statsmodels family by family: its Holm calls gc.collect() on
    every call, 20-100 ms each in a process holding a market's frames, and a study has
    hundreds of families (6 s of a 19 s universe study).

    The rows are grouped by family with one stable sort of small integer codes (numpy's
    radix sort), then each family's p-values are sorted and accumulated on their own slice:
    a loop over the families (a handful, or groups x tests), never over rows, and no sort of
    all the rows by (family, p) (9 million rows at a million firm events: 3 s)."""
    p = np.asarray(p, dtype=float)
    holm, bh = np.full(len(p), np.nan), np.full(len(p), np.nan)
    rows = np.flatnonzero(np.isfinite(p))
    if not len(rows):
        return holm, bh
    small = np.asarray(family)[rows]
    if small.min() < 0 or small.max() >= 2 ** 16:
        small = pd.factorize(small)[0]
    n = int(small.max()) + 1
    small = small.astype(np.uint8 if n <= 2 ** 8 else np.uint16 if n <= 2 ** 16 else np.int64)
    by_family = rows[np.argsort(small, kind="stable")]
    sizes = np.bincount(small, minlength=n)
    for start, m in zip((np.cumsum(sizes) - sizes).tolist(), sizes.tolist()):
        if not m:
            continue
        mine = by_family[start:start + m]
        # any order of tied p-values gives the same adjusted values (their running max or
        # min is taken over the tie): numpy's fastest sort, not a stable one
        order = np.argsort(p[mine])
        mine = mine[order]
        ps = p[mine]
        rank = np.arange(1, m + 1, dtype=float)
        holm[mine] = np.minimum(np.maximum.accumulate(ps * (float(m) - rank + 1)), 1.0)
        raw = (ps / (rank / float(m)))[::-1]
        bh[mine] = np.minimum(np.minimum.accumulate(raw)[::-1], 1.0)
    return holm, bh


def adjust_results(car: pd.DataFrame, tests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The car and tests frames of a study with their adjusted p-values (families above)."""
    from eventstudy.executors import kernel_threads, side_by_side
    big = len(car) + len(tests) > SIDE_BY_SIDE_ROWS and kernel_threads() > 1
    # the two frames' families are independent: side by side on two threads at scale
    car, tests = side_by_side(
        lambda: add_adjusted(car, CAR_FAMILY) if "p_value" in car.columns else car,
        # (TESTS_FAMILY's level: a code, not a column)
        lambda: add_adjusted(tests, TESTS_FAMILY[1:], codes=_level(tests))
        if "p_value" in tests.columns else tests, threads=big)
    return car, tests


def _level(tests: pd.DataFrame) -> np.ndarray:
    """(n,) 1 for a group's row, 0 for a pair's (a blank or missing group)."""
    if "group" not in tests.columns or not len(tests):
        return np.zeros(len(tests), np.int8)
    codes, uniques = pd.factorize(tests["group"])       # (NaN: code -1, the last entry)
    blank = np.array([isinstance(u, str) and u == "" for u in uniques] + [True])
    return (~blank[codes]).astype(np.int8)


def survival_marker(p_holm, p_bh, alpha: float = ALPHA) -> str:
    """'‡' survives Holm (and so BH) at `alpha`, '†' survives BH only, '' neither or NaN."""
    if _below(p_holm, alpha):
        return "\u2021"
    return "\u2020" if _below(p_bh, alpha) else ""


def _below(p, alpha: float) -> bool:
    try:
        return bool(float(p) < alpha)
    except (TypeError, ValueError):
        return False
