"""The fast path: one fused numba kernel per block of pairs for the linear models
(fit -> ARs -> running CAR -> CARs, BHARs and their prediction-error variances).

Why: the numpy path (`eventstudy.fit`) makes a dozen (pairs x days [x k]) temporaries per
block; at hundreds of thousands of pairs that is most of the fit's time and memory. The kernel
walks each pair's contiguous row once per pass instead. `fit.fit_ols`, `fit.abnormal_returns`
and `fit.window_car` stay the reference: the tests hold the two paths equal to 1e-12.

Not bitwise: the kernel sums a pair's rows in order, where numpy's `einsum`/`sum` use pairwise
or BLAS summation, and it inverts a 2x2 X'X in closed form (LAPACK's LU for k > 2), where numpy
calls LAPACK's `inv` and `solve` separately. Each is a last-bit difference, magnified at most by
the condition number of X'X.

The switch (`use_fast`): the environment variable `EVENTSTUDY_FASTPATH` = `auto` (default),
`on` or `off`. `auto` takes the fast path for a study whose largest block has at least
`FAST_MIN_PAIRS` pairs (the engine decides once per study, on the driver, so that a study's
numbers never depend on what ran before it in the process): importing numba and loading the compiled
kernels from its disk cache (`cache=True`) costs 0.5-1 s per process, and compiling them the
first time ~10 s, which a study of a few thousand pairs would not win back. Without numba
(it is the optional extra `eventstudy-markets[fast]`) every block takes the numpy path.
GARCH and Scholes-Williams always take the numpy path (their fits are not normal equations).
"""
from __future__ import annotations

import os

import numpy as np

FAST_MIN_PAIRS = 10_000     # pairs in a block from which `auto` pays numba's load time
_STATE: dict = {}           # "kernels": the compiled functions, or None when numba is missing

# statuses of a pair in the kernel's output
OK, SHORT, DOUBT, CONSTANT = 0, 1, 2, 3


def available() -> bool:
    """Whether numba can be imported (tried once per process)."""
    return _kernels() is not None


def loaded() -> bool:
    return _STATE.get("kernels") is not None


def mode() -> str:
    value = os.environ.get("EVENTSTUDY_FASTPATH", "auto").strip().lower()
    return value if value in ("auto", "on", "off") else "auto"


def use_fast(n_pairs: int, model: str) -> bool:
    """Take the fused kernel for a block of `n_pairs` pairs of `model`?"""
    if model in ("garch", "scholes_williams"):
        return False
    m = mode()
    if m == "off" or (m == "auto" and n_pairs < FAST_MIN_PAIRS):
        return False
    return available()


def kernels_if_loaded():
    """The kernels module for the helpers of the group tests (ranks, the group bootstrap) when
    numba is already loaded in this process (a big block took the fast path) or the switch is
    `on`; None otherwise, so that a small study never imports numba for them."""
    m = mode()
    if m == "off" or not (loaded() or (m == "on" and available())):
        return None
    from eventstudy import _fastkernels
    return _fastkernels


def _kernels():
    if "kernels" not in _STATE:
        try:
            import numba  # noqa: F401
        except ImportError:
            _STATE["kernels"] = None
        else:
            from eventstudy import _fastkernels
            _STATE["kernels"] = {"fused": _fastkernels.fused}
    return _STATE["kernels"]


def fused(y, X, est, ret_w, off_w, span_w, X_w, exists_w, gap_w, rel_w, windows, last_rel,
          log: bool, est_cols: slice) -> dict:
    """Run the kernel on one block (arrays as `engine.study_block` builds them); a dict of
    its outputs. Pairs with status SHORT or DOUBT are left for the numpy path. `est_cols`:
    the estimation window's columns of `y` (the pair bootstrap's reference sums)."""
    from eventstudy.inference import _REL_TOL
    k = _kernels()
    if k is None:
        raise ImportError("numba is not installed (pip install 'eventstudy-markets[fast]')")
    c = np.ascontiguousarray
    out = k["fused"](c(y, dtype=float), c(X, dtype=float), c(est, dtype=np.bool_),
                     c(ret_w, dtype=float), c(off_w, dtype=float), c(span_w, dtype=float),
                     c(X_w, dtype=float), c(exists_w, dtype=np.bool_), c(gap_w, dtype=np.bool_),
                     c(rel_w, dtype=np.int64), c(np.asarray(windows, dtype=np.int64).reshape(-1, 2)),
                     c(last_rel, dtype=np.int64), bool(log), int(est_cols.start),
                     int(est_cols.stop), float(_REL_TOL))
    names = ("status", "n_est", "dof", "sigma2", "resid", "expected", "ar_var", "path_var",
             "car", "var", "t", "bhar", "n_days", "n_gaps", "waiting", "boot_p", "boot_m")
    return dict(zip(names, out))
