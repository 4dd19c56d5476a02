"""Compare a result frame with its golden copy, cell by cell, and say where they differ.

The rules (issue #8): the same columns in the same order, the same rows in the same order,
identical NaN patterns, numbers equal to 1e-10 (absolute for |x| <= 1, relative above),
strings, bools, integers and datetimes equal, and the bootstrap p-values bitwise equal.
A change made on purpose is declared in `deliberate` with its reason; nothing else may differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

TOLERANCE = 1e-10
KEYS = ("group", "event_id", "series", "model", "window_start", "window_end", "test", "phase",
        "rel_day", "date", "kind")


@dataclass(frozen=True)
class Exempt:
    """Cells changed on purpose: in `frame`, the rows where `rows(old)` is true, these columns.

    `rows` receives the golden (old) frame and returns a boolean mask (or None for every row).
    """
    frame: str
    rows: Callable[[pd.DataFrame], pd.Series] | None
    columns: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Added:
    """A column the new engine adds on purpose (allowed only in the new frame)."""
    frame: str
    column: str
    reason: str


class GoldenMismatch(AssertionError):
    pass


def assert_frames_match(name: str, new: pd.DataFrame, old: pd.DataFrame, *,
                        deliberate: list = ()) -> None:
    """Raise GoldenMismatch naming frame, column, first differing row (its keys) and values."""
    exempt = [d for d in deliberate if isinstance(d, Exempt) and d.frame == name]
    added = [d.column for d in deliberate if isinstance(d, Added) and d.frame == name]
    new_cols = [c for c in new.columns if c not in added]
    if new_cols != list(old.columns):
        raise GoldenMismatch(f"{name}: columns differ\n  new: {list(new.columns)}\n"
                             f"  old: {list(old.columns)}" + _column_hint(new_cols, old))
    if len(new) != len(old):
        raise GoldenMismatch(f"{name}: {len(new)} rows, the golden frame has {len(old)}")
    new, old = new.reset_index(drop=True), old.reset_index(drop=True)
    free = {c: np.zeros(len(old), dtype=bool) for c in old.columns}
    for d in exempt:
        mask = (np.ones(len(old), dtype=bool) if d.rows is None
                else np.asarray(d.rows(old), dtype=bool))
        for c in d.columns:
            if c not in free:
                raise GoldenMismatch(f"{name}: deliberate change names unknown column {c!r}")
            free[c] |= mask
    keys = [c for c in KEYS if c in old.columns]
    # keys first, so that a shifted row is reported as such rather than as a changed number
    for col in keys + [c for c in old.columns if c not in keys]:
        _check_column(name, col, new, old, free[col], keys)


def _column_hint(new_cols, old) -> str:
    missing = [c for c in old.columns if c not in new_cols]
    extra = [c for c in new_cols if c not in old.columns]
    out = ""
    if missing:
        out += f"\n  missing: {missing}"
    if extra:
        out += f"\n  undeclared new columns: {extra}"
    if not missing and not extra:
        out += "\n  (same columns, different order)"
    return out


def _kind(values: pd.Series) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "object"


def _check_column(name, col, new, old, free, keys) -> None:
    a, b = new[col], old[col]
    ka, kb = _kind(a), _kind(b)
    if free.all():
        return
    if ka != kb and len(old):
        raise GoldenMismatch(f"{name}.{col}: dtype {a.dtype} ({ka}), the golden frame has "
                             f"{b.dtype} ({kb})")
    if not len(old):
        return
    if kb == "datetime":
        bad = _datetime_diff(a, b)
    elif kb == "float":
        bad = _float_diff(a.to_numpy(dtype=float), b.to_numpy(dtype=float))
        if col == "p_value" and "test" in old.columns:
            boot = (old["test"] == "bootstrap").to_numpy(dtype=bool)
            bad |= boot & _bits_differ(a.to_numpy(dtype=float), b.to_numpy(dtype=float))
    elif kb in ("int", "bool"):
        bad = a.to_numpy() != b.to_numpy()
    else:
        na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
        va = a.astype(object).where(~na_a, None).to_numpy()
        vb = b.astype(object).where(~na_b, None).to_numpy()
        same = np.fromiter((x == y for x, y in zip(va, vb)), dtype=bool, count=len(va))
        bad = (na_a != na_b) | (~na_a & ~na_b & ~same)
    bad = np.asarray(bad, dtype=bool) & ~free
    if bad.any():
        i = int(np.argmax(bad))
        where = ", ".join(f"{k}={_show(old[k].iloc[i])}" for k in keys)
        raise GoldenMismatch(f"{name}.{col}: {int(bad.sum())} row(s) differ; first row {i} "
                             f"({where}): new={_show(a.iloc[i])} old={_show(b.iloc[i])}")


def _show(value) -> str:
    """A cell as text: numbers at full precision, without numpy's wrapper."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _float_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where NaN patterns differ or |a - b| > 1e-10 (relative to |b| above 1)."""
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= TOLERANCE * np.maximum(1.0, np.abs(b))
        close |= a == b                      # equal infinities
    return (nan_a != nan_b) | (~nan_a & ~nan_b & ~close)


def _bits_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    return (a.view(np.int64) != b.view(np.int64)) & ~both_nan


def _utc_naive(values: pd.Series) -> np.ndarray:
    """Datetimes as naive UTC int64 nanoseconds (aware ones converted), NaT as the NaT int."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]").to_numpy().view(np.int64)


def _datetime_diff(a: pd.Series, b: pd.Series) -> np.ndarray:
    return _utc_naive(a) != _utc_naive(b)
