"""Adjusted p-values for the many tests a study runs: Holm and Benjamini-Hochberg.

A study of 1,000 securities around 12 events reports 12,000 CAR p-values per model and
window; at 5 % some 600 of them are "significant" when nothing happened. Two adjustments,
both from statsmodels' `multipletests`, are added beside every `p_value`:

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

#: column -> statsmodels method name
METHODS = {"p_holm": "holm", "p_bh": "fdr_bh"}
ALPHA = 0.05
CAR_FAMILY = ("model", "window_start", "window_end")
TESTS_FAMILY = ("_level", "test", "model", "window_start", "window_end")


def adjust(p, method: str) -> np.ndarray:
    """Adjusted p-values of one family; NaN stays NaN and is not counted in the family."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def add_adjusted(frame: pd.DataFrame, family, p_col: str = "p_value") -> pd.DataFrame:
    """A copy of `frame` with p_holm and p_bh right after `p_col`, adjusted within each family
    (the rows sharing the values of the `family` columns). Row order is kept."""
    out = frame.copy()
    for col in METHODS:
        if col in out.columns:
            out = out.drop(columns=col)
    p = pd.to_numeric(out[p_col], errors="coerce").to_numpy(dtype=float) if len(out) \
        else np.empty(0)
    adjusted = {col: np.full(len(out), np.nan) for col in METHODS}
    if len(out):
        codes = out.groupby(list(family), sort=False, dropna=False).ngroup().to_numpy()
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for rows in np.split(order, bounds):      # one call per family, not per row
            for col, method in METHODS.items():
                adjusted[col][rows] = adjust(p[rows], method)
    at = out.columns.get_loc(p_col) + 1
    for i, col in enumerate(METHODS):
        out.insert(at + i, col, adjusted[col])
    return out


def adjust_results(car: pd.DataFrame, tests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The car and tests frames of a study with their adjusted p-values (families above)."""
    car = add_adjusted(car, CAR_FAMILY) if "p_value" in car.columns else car
    if "p_value" in tests.columns:
        level = tests["group"].fillna("").ne("") if "group" in tests.columns else False
        tests = add_adjusted(tests.assign(_level=level), TESTS_FAMILY).drop(columns="_level")
    return car, tests


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
