"""CPU time of the group-test battery at market scale, from arrays (no study, no I/O).

The lead's case (issue #8): 500 securities x 50 events = 25,000 pairs, one group per event
(500 pairs) plus the pooled group, 2 models, 9 windows, the full battery (14 tests, 2,000
bootstrap draws). Synthetic market-model-like residuals with a market and industry factors and
random gaps; events spread over two years of one calendar.

    python benchmarks/bench_inference.py                 # the full case, median of 3 runs
    python benchmarks/bench_inference.py --securities 200 --events 10 --runs 1   # quick
    EVENTSTUDY_FASTPATH=on python benchmarks/bench_inference.py --securities 2000 \
        --events 50 --models 1 --runs 1 --missing 0.001 --tests corrado_rank,cz_rank,grank
                                                    # the rank tests, with their numba kernels

Prints CPU seconds (time.process_time, BLAS pinned to one thread) per group kind and in total,
the wall time, and the peak resident memory of the process.
"""
from __future__ import annotations

import os

if __name__ == "__main__":   # run as a script only: imported (by the tests), it must not
    #                           change the BLAS threads of the processes its importer starts
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eventstudy import inference  # noqa: E402

EST = (-250, -11)
EVT = (-5, 5)
WINDOWS = [(-1, 1), (0, 1), (0, 5), (-5, 5), (-1, -1), (0, 0), (1, 1), (2, 2), (3, 3)]


def synthetic_group(n_sec: int, n_events: int, seed: int = 0, gaps: float = 0.01
                    ) -> tuple[inference.GroupMatrix, list[inference.WindowCars]]:
    """The pooled group (pairs sorted by event, then security) and its windows' CARs."""
    rng = np.random.default_rng(seed)
    days = np.arange(EST[0], EVT[1] + 1)
    est = days <= EST[1]
    day0 = np.sort(rng.choice(np.arange(-EST[0], -EST[0] + 500), n_events, replace=False))
    n_cal = int(day0.max()) + EVT[1] + 1
    ind = rng.integers(0, 10, n_sec)
    f = rng.standard_normal((n_cal, 11)) * 0.01
    vol = rng.uniform(0.01, 0.03, n_sec)
    e = 0.3 * f[:, [0]] + 0.5 * f[:, 1 + ind] + vol * rng.standard_normal((n_cal, n_sec))
    e[rng.random((n_cal, n_sec)) < gaps] = np.nan
    cal = day0[:, None] + days[None, :]                       # (events, D) calendar rows
    ar = e[cal]                                               # (events, D, n_sec)
    ar[:, ~est] = np.where(np.isnan(ar[:, ~est]), 0.0, ar[:, ~est])   # no gaps in windows
    ar = ar.transpose(1, 0, 2).reshape(len(days), -1)         # (D, P), pair = event-major
    P = ar.shape[1]
    T = np.isfinite(ar[est]).sum(0)
    mu = np.nanmean(ar[est], axis=0)
    ar = ar - mu
    s2 = np.nansum(ar[est] ** 2, axis=0) / (T - 1)
    var = np.where(est[:, None], s2, s2 * (1 + 1 / T))
    date = np.repeat(cal.T[:, :, None], n_sec, axis=2).reshape(len(days), -1) + 19000
    keys = pd.MultiIndex.from_product([[f"E{i:02d}" for i in range(n_events)],
                                       [f"S{j:04d}" for j in range(n_sec)]],
                                      names=["event_id", "series"])
    is_est = np.broadcast_to(est[:, None], (len(days), P))
    group = inference.GroupMatrix.from_arrays(keys, days, ar, var, is_est, ~is_est, date,
                                              T - 1.0)
    wins = []
    for a, b in WINDOWS:
        rows = (days >= a) & (days <= b)
        n = float(rows.sum())
        wins.append(inference.WindowCars(a, b, ar[rows].sum(0), s2 * (n + n * n / T),
                                         T - 1.0, np.full(P, n)))
    return group, wins


def with_missing_bars(group, wins, share: float, seed: int = 1):
    """Each (pair, event day) missing with probability ``share``: no AR that day, so the daily
    windows (read off the matrix) lack those pairs, as with a real panel's missing bars (at
    0.1 %, every daily window of a 5,000-pair group lacks a few pairs)."""
    if share <= 0:
        return group, wins
    rng = np.random.default_rng(seed)
    gone = group.is_evt & (rng.random(group.ar.shape) < share)
    g = inference.GroupMatrix.from_arrays(group.keys, group.days,
                                          np.where(gone, np.nan, group.ar), group.var,
                                          group.is_est, group.is_evt & ~gone, group.date,
                                          group.dof)
    return g, [inference.WindowCars.from_day(g, w.start) if w.start == w.end else w
               for w in wins]


def run_once(group, wins, n_sec, n_events, n_models, n_boot,
             tests=inference.ALL_GROUP_TESTS) -> dict[str, float]:
    """CPU seconds of the per-event groups and of the pooled group (all models)."""
    out = {"per_event": 0.0, "pooled": 0.0, "wall": 0.0}
    for _ in range(n_models):
        # a fresh matrix per model, as the engine builds one: the per-pair work it keeps
        # (ranks, KP rows) is not carried from one model or run to the next
        group = dataclasses.replace(group, _shared=None)
        t0, w0 = time.process_time(), time.perf_counter()
        for e in range(n_events):       # sub-groups of the pooled matrix, as in the engine
            cols = np.arange(e * n_sec, (e + 1) * n_sec)
            inference.group_tests_matrix(group.take(cols), [w.take(cols) for w in wins],
                                         n_boot=n_boot, seed=1, tests=tests)
        t1 = time.process_time()
        inference.group_tests_matrix(group, wins, n_boot=n_boot, seed=1, tests=tests)
        t2 = time.process_time()
        out["wall"] += time.perf_counter() - w0
        out["per_event"] += t1 - t0
        out["pooled"] += t2 - t1
    out["total"] = out["per_event"] + out["pooled"]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--securities", type=int, default=500)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--missing", type=float, default=0.0,
                        help="share of missing event-window bars (daily windows lack pairs)")
    parser.add_argument("--tests", default=",".join(inference.ALL_GROUP_TESTS),
                        help="comma-separated group tests to run (default: all)")
    args = parser.parse_args(argv)
    tests = tuple(t for t in args.tests.split(",") if t)
    t0 = time.process_time()
    group, wins = with_missing_bars(*synthetic_group(args.securities, args.events),
                                    args.missing)
    print(f"{len(group.keys)} pairs x {len(group.days)} rel-days, {len(WINDOWS)} windows; "
          f"inputs built in {time.process_time() - t0:.1f} s CPU")
    runs = pd.DataFrame([run_once(group, wins, args.securities, args.events, args.models,
                                  args.n_boot, tests) for _ in range(args.runs)])
    med = runs.median()
    calls = args.models * (args.events + 1)
    print(f"{calls} group calls x {len(WINDOWS)} windows x {len(tests)} "
          f"tests, median of {args.runs} run(s), CPU s: per-event groups {med.per_event:.2f}, "
          f"pooled {med.pooled:.2f}, total {med.total:.2f}; wall {med.wall:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
