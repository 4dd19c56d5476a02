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
OK, SHORT, DOUBT, CONSTANT, FEW, SKIPPED = 0, 1, 2, 3, 4, 5


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


def fused(ret, span, X, off, valid, exists, excluded, col, r0, est_cols: slice,
          win_cols: slice, rel_w, windows, last_rel, todo, min_est: int, log: bool, out,
          dest) -> tuple:
    """Run the kernel on P pairs read in place from (U, S) rows (a `Block`'s (pairs x days)
    arrays are the case U = P, r0 = 0): pair p's day i is row r0[p] + i of row col[p]; X is
    (U, S, k), `off` the benchmark return subtracted from y (market-adjusted) or None.
    Writes the pairs it settles (status OK) into rows `dest` of `out` (an
    `engine.PairArrays`, its arrays as allocated: C-ordered float64); returns (status, n,
    n_excluded) per pair. Pairs in `todo` with status SHORT or DOUBT are left for the numpy
    path, FEW ones (n < min_est) for the caller to word."""
    from eventstudy.inference import _REL_TOL
    k = _kernels()
    if k is None:
        raise ImportError("numba is not installed (pip install 'eventstudy-markets[fast]')")
    c = np.ascontiguousarray
    has_off = off is not None
    return k["fused"](
        c(ret, dtype=float), c(span, dtype=float), c(X, dtype=float),
        c(off, dtype=float) if has_off else np.zeros((1, 1)), has_off,
        c(valid, dtype=np.bool_), c(exists, dtype=np.bool_), c(excluded, dtype=np.bool_),
        c(col, dtype=np.int64), c(r0, dtype=np.int64), int(est_cols.start),
        int(est_cols.stop), int(win_cols.start), c(rel_w, dtype=np.int64),
        c(np.asarray(windows, dtype=np.int64).reshape(-1, 2)), c(last_rel, dtype=np.int64),
        c(todo, dtype=np.bool_), int(min_est), bool(log), float(_REL_TOL),
        c(dest, dtype=np.int64), out.resid, out.expected, out.ar_var, out.path_var, out.car,
        out.var, out.t, out.bhar, out.n_days, out.n_gaps, out.waiting, out.boot_p, out.boot_m,
        out.sigma2, out.dof, out.n_est)
