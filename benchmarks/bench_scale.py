"""Scale benchmark of the study engine (issues #8, #9): synthetic panels and the real universe.

    python benchmarks/bench_scale.py                 # every case, 3 runs each, medians
    python benchmarks/bench_scale.py --cases 500x1 --repeat 5
    python benchmarks/bench_scale.py --cases 500x50 --dask       # or --workers 2
    python benchmarks/bench_scale.py --old /path/to/checkout-at-786dab7 --cases 500x1
    python benchmarks/bench_scale.py --cases 500x1 500x50 --baseline /path/to/main  # old vs new
    python benchmarks/bench_scale.py --cases 5000x100 firm1m --repeat 1 --study-only
    python benchmarks/bench_scale.py --cases 1000x100 firm1000x100 --study-only     # scaled
    python benchmarks/bench_scale.py --cases firm1m --repeat 1 --study-only --threads 1

Cases: `NxM` is N securities x M global events (5000x100 is issue #9's); `firm1m` is issue
#9's 1,000,000 firm-specific events (10,000 securities x 100 random sessions each over 20
years of XNYS, an `[events.firm]` file, market model, CAR + BHAR + variances per pair, no
groups), `firmNxM` a scaled version of it.

Synthetic prices have 0.1 % random missing bars (`--missing`): each daily test window whose
pairs differ (a pair without an AR that day) is ranked and bootstrapped on its own, so gaps
cost time. Each case runs in a fresh process: `study` is `run_study` alone (wall and CPU seconds;
its modules, pyarrow's Parquet reader included, are imported before the clock starts),
`process` the whole `eventstudy run --offline` (imports, study, CSVs and HTML reports) in a
child process, and `peak` the child's peak resident memory. Synthetic prices (a market factor
plus noise, random missing bars) are written to a temporary folder as one wide Parquet file;
the study is the market model with the full group test battery, one group per event plus
the pooled group. `--old DIR` runs the same synthetic case through the engine of an older
checkout (one [series.X] per security: that engine has no universes) for a side-by-side row.
Quote medians: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CASES = {"500x1": (500, 1), "5000x1": (5000, 1), "500x50": (500, 50), "5000x100": (5000, 100),
         "firm1m": "firm", "universe": None}
FIRM = (10_000, 100)     # firm1m: securities x firm-specific events each (1,000,000 pairs)


MISSING = 0.001     # share of random missing bars in the synthetic prices
ENGINE: list[str] = []   # --workers N / --dask local: the executor (docs/big-studies.md)


def make_case(folder: Path, n_sec: int, n_events: int, *, old: bool = False, seed: int = 7):
    """Write prices, events.csv and study.toml for a synthetic case; return their paths."""
    import numpy as np
    import pandas as pd
    from eventstudy.calendars import session_closes
    from eventstudy.config import SeriesConfig
    rng = np.random.default_rng(seed)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    all_dates = closes.loc[:"2025-12-31"].index
    if n_events > 50:
        # 100 global events in two years would leave most estimation windows with fewer than
        # 120 days once the other events' windows are excluded (500x50 studies 13,494 of its
        # 25,000 pairs for that reason): spread them, 20 sessions an event
        last = all_dates.searchsorted(pd.Timestamp("2025-11-28"), side="right")
        pool = all_dates[last - 20 * n_events:last]
        dates = all_dates[all_dates.searchsorted(pool[0]) - 320:]
    else:
        dates = closes.loc["2021-01-04":"2025-12-31"].index
        pool = dates[(dates >= "2024-01-01") & (dates <= "2025-11-28")]
    S = len(dates)
    market = rng.normal(0.0003, 0.01, S)
    beta = rng.uniform(0.5, 1.5, n_sec)
    noise = rng.standard_t(5, (S, n_sec)) * rng.uniform(0.01, 0.03, n_sec)
    prices = 50 * np.exp(np.cumsum(market[:, None] * beta + noise, axis=0))
    prices[rng.random((S, n_sec)) < MISSING] = np.nan            # random missing bars
    bench = 3000 * np.exp(np.cumsum(market))
    names = [f"S{i:05d}" for i in range(n_sec)]
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": bench}).to_csv(
        folder / "bench.csv", index=False)
    # events at 10:00 New York on random sessions of the pool (day 0 the same session)
    days = np.sort(rng.choice(len(pool), n_events, replace=False))
    pd.DataFrame({
        "event_id": [f"ev{i:03d}" for i in range(n_events)],
        "announced_at": [f"{pool[d]:%Y-%m-%d} 10:00 America/New_York" for d in days],
        "time_precision": "minute", "title": "synthetic", "category": "test", "tags": "",
        "source": "https://example.org"}).to_csv(folder / "events.csv", index=False)
    study = ('[study]\nmodels = ["market_model"]\nestimation_window = [-250, -11]\n'
             'event_windows = [[0, 0], [-1, 1], [0, 5]]\nplot_window = [-10, 10]\n'
             'n_boot = 2000\n\n[series.BENCH]\nsource = "csv"\npath = "bench.csv"\n'
             'calendar = "XNYS"\n')
    if old:
        wide = pd.DataFrame(prices, columns=names)
        wide.insert(0, "date", dates.strftime("%Y-%m-%d"))
        for i, n in enumerate(names):      # the old engine refuses blank cells: one file each
            wide[["date", n]].dropna().rename(columns={n: "close"}).to_csv(
                folder / f"{n}.csv", index=False)
        study = study.replace("[study]\n", f"[study]\nseries = {json.dumps(names)}\n")
        study += "".join(f'\n[series.{n}]\nsource = "csv"\npath = "{n}.csv"\n'
                         f'calendar = "XNYS"\nbenchmark = "BENCH"\n' for n in names)
        study += f'\n[groups.all]\nseries = {json.dumps(names)}\ncategories = ["test"]\n'
    else:
        wide = pd.DataFrame(prices, columns=names, index=pd.DatetimeIndex(dates, name="date"))
        wide.reset_index().to_parquet(folder / "prices.parquet", index=False)
        study = study.replace("[study]\n", '[study]\nuniverses = ["synthetic"]\n')
        study += ('\n[universe.synthetic]\nprices = "prices.parquet"\nlayout = "wide"\n'
                  'calendar = "XNYS"\nbenchmark = "BENCH"\n'
                  '\n[groups.pooled]\nuniverse = "synthetic"\n'
                  + ('\n[groups.by_event]\nuniverse = "synthetic"\nby = ["event_id"]\n'
                     if n_events > 1 else ""))
    (folder / "study.toml").write_text(study)
    return folder / "events.csv", folder / "study.toml"


def make_firm_case(folder: Path, n_sec: int = FIRM[0], per_sec: int = FIRM[1], *,
                   seed: int = 11):
    """1,000,000 firm-specific events (issue #9): `n_sec` securities over 20 years of XNYS
    sessions, `per_sec` events each on random sessions (10:00 New York, so day 0 is that
    session), declared as an `[events.firm]` file; market model, CAR + BHAR + variances per
    pair, no groups (the per-pair t-test and bootstrap come with every CAR)."""
    import numpy as np
    import pandas as pd
    from eventstudy.calendars import session_closes
    from eventstudy.config import SeriesConfig
    rng = np.random.default_rng(seed)
    closes = session_closes(SeriesConfig(id="x", name="x", source="csv", calendar="XNYS"))
    dates = closes.loc["2006-01-03":"2025-12-31"].index
    S = len(dates)
    market = rng.normal(0.0003, 0.01, S)
    bench = 3000 * np.exp(np.cumsum(market))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": bench}).to_csv(
        folder / "bench.csv", index=False)
    names = np.array([f"F{i:05d}" for i in range(n_sec)], dtype=object)
    cols = {"date": pd.DatetimeIndex(dates, name="date")}
    for start in range(0, n_sec, 1000):           # 1,000 securities at a time: less memory
        n = min(1000, n_sec - start)
        beta = rng.uniform(0.5, 1.5, n)
        noise = rng.standard_t(5, (S, n)).astype(np.float32) * rng.uniform(0.01, 0.03, n) \
            .astype(np.float32)
        block = 50 * np.exp(np.cumsum(market[:, None] * beta + noise, axis=0))
        block[rng.random((S, n)) < MISSING] = np.nan
        cols.update({names[start + i]: block[:, i] for i in range(n)})
    pd.DataFrame(cols).to_parquet(folder / "prices.parquet", index=False)
    del cols
    # events: sessions 300 .. S-10 (a full estimation window and the event windows)
    day = rng.integers(300, S - 10, (n_sec, per_sec))
    sec = np.repeat(names, per_sec)
    when = pd.DatetimeIndex(dates[day.ravel()]).strftime("%Y-%m-%d").to_numpy(dtype=object)
    pd.DataFrame({"event_id": [f"e{i:07d}" for i in range(n_sec * per_sec)], "security": sec,
                  "announced_at": when + " 10:00 America/New_York",
                  "time_precision": "minute", "category": "earnings"}).to_csv(
        folder / "firm.csv", index=False)
    pd.DataFrame({"event_id": ["global0"], "announced_at": ["2025-06-02 10:00 America/New_York"],
                  "time_precision": "minute", "title": "unused", "category": "none", "tags": "",
                  "source": "https://example.org"}).to_csv(folder / "events.csv", index=False)
    (folder / "study.toml").write_text(
        '[study]\nseries = ["BENCH"]\nuniverses = []\nmodels = ["market_model"]\n'
        'estimation_window = [-250, -11]\nevent_windows = [[0, 0], [-1, 1], [0, 5]]\n'
        'plot_window = [-1, 5]\n\n'
        '[series.BENCH]\nsource = "csv"\npath = "bench.csv"\ncalendar = "XNYS"\n\n'
        '[universe.firms]\nprices = "prices.parquet"\nlayout = "wide"\ncalendar = "XNYS"\n'
        'benchmark = "BENCH"\n\n[events.firm]\npath = "firm.csv"\n')
    return folder / "events.csv", folder / "study.toml"


def universe_case(folder: Path):
    """The real universe example shipped in examples/universe (built from ../shared)."""
    example = REPO / "examples" / "universe"
    return REPO / "events.csv", example / "study.toml"


def _study_time(events: Path, config: Path, root: Path, code: Path | None = None) -> dict:
    """Run the study in a fresh interpreter; return its wall and CPU seconds (`code`: the
    checkout whose eventstudy runs it, default this one)."""
    code_ = (
        "import time, json, sys\n"
        "from eventstudy import load_events, load_config, run_study\n"
        f"ev = load_events({str(events)!r}); cfg = load_config({str(config)!r})\n"
        # imports are counted in `process`, not in `study` (the time of run_study itself)
        "import eventstudy.study, eventstudy.inference, eventstudy.engine, eventstudy.executors\n"
        "import eventstudy.data.universe, eventstudy.data.prices, eventstudy.data.cache\n"
        "import eventstudy.multitest, eventstudy.store, pyarrow.parquet, pyarrow.dataset\n"
        "w, c = time.perf_counter(), time.process_time()\n"
        + ("from eventstudy.executors import check_settings\n"
           f"engine = check_settings(**{_engine_kwargs()!r})\n" if ENGINE else "") +
        f"r = run_study(ev, cfg, offline=True, cache_dir={str(root / 'cache')!r}, "
        "memoize=False" + (", executor=engine" if ENGINE else "") + ")\n"
        "import resource\n"
        "print(json.dumps({'study': time.perf_counter() - w, 'cpu': time.process_time() - c,"
        " 'pairs': len(r.alignment), 'cars': len(r.car), 'tests': len(r.tests),"
        " 'study_peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
    out = subprocess.run([sys.executable, "-c", code_], cwd=config.parent, env=_env(code),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _process_time(events: Path, config: Path, root: Path, code: Path | None = None) -> dict:
    """`eventstudy run --offline` from scratch in a child: wall seconds and peak RSS."""
    out_dir = root / "reports"
    args = ["run", "--offline", "--force", "--events", str(events), "--config", str(config),
            "--out", str(out_dir), "--cache", str(root / "cache-run")] + ENGINE
    peak_file = root / "peak.txt"
    code_ = ("import resource, runpy, sys\n"
            f"sys.argv = ['eventstudy'] + {args!r}\n"
            "try:\n    runpy.run_module('eventstudy.cli', run_name='__main__')\n"
            "finally:\n"
            f"    open({str(peak_file)!r}, 'w').write(str(resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss))\n")
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code_], cwd=config.parent, env=_env(code),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    size = sum(p.stat().st_size for p in out_dir.rglob("*.html"))
    return {"process": wall, "peak_mb": int(peak_file.read_text()) / 1024,
            "html_mb": size / 2 ** 20}


def _engine_kwargs() -> dict:
    if "--dask" in ENGINE:
        return {"dask": "local"}
    return {"workers": int(ENGINE[1])} if ENGINE else {}


THREADS: list[str] = []  # --threads N: EVENTSTUDY_THREADS of the children (default: cores)


def _env(pythonpath: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath or REPO)
    if THREADS:
        env["EVENTSTUDY_THREADS"] = THREADS[0]
    return env


def run_case(name: str, repeat: int, old: Path | None, code: Path | None = None,
             process: bool = True) -> dict:
    rows = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if CASES[name] is None:
                events, config = universe_case(root)
            elif CASES[name] == "firm":
                events, config = make_firm_case(root)
            elif CASES[name][0] == "firm":
                events, config = make_firm_case(root, *CASES[name][1:])
            else:
                events, config = make_case(root, *CASES[name], old=old is not None)
            if old is not None:
                snippet = (
                    "import time, json\n"
                    "from eventstudy import load_events, load_config, run_study\n"
                    f"ev = load_events({str(events)!r}); cfg = load_config({str(config)!r})\n"
                    "w, c = time.perf_counter(), time.process_time()\n"
                    f"r = run_study(ev, cfg, offline=True, cache_dir={str(root / 'c')!r}, "
                    "memoize=False)\n"
                    "import resource\n"
                    "print(json.dumps({'study': time.perf_counter() - w, "
                    "'cpu': time.process_time() - c, 'pairs': len(r.alignment), 'peak_mb': "
                    "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
                done = subprocess.run([sys.executable, "-c", snippet], cwd=root,
                                      env=_env(old), capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                row = _study_time(events, config, root, code)
                if process:
                    row.update(_process_time(events, config, root, code))
            rows.append(row)
    out = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    out["runs"] = len(rows)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES),
                        help=f"{', '.join(CASES)}; or any NxM (N securities x M global "
                             "events) or firmNxM (N securities x M firm events each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--missing", type=float, default=None,
                        help="share of random missing bars in synthetic prices")
    parser.add_argument("--old", type=Path, default=None,
                        help="an older checkout to run the synthetic cases through")
    parser.add_argument("--workers", type=int, default=None, help="a process pool of N")
    parser.add_argument("--dask", action="store_true", help="a 2-worker Dask LocalCluster")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout with universes (e.g. a worktree of main): each "
                             "case also runs with its code, same data, for an old-vs-new row")
    parser.add_argument("--study-only", action="store_true",
                        help="skip the whole-process run (reports)")
    parser.add_argument("--threads", type=int, default=None,
                        help="EVENTSTUDY_THREADS for the runs (1: the in-process fast path "
                             "and the side-by-side steps one after another)")
    args = parser.parse_args(argv)
    THREADS[:] = [str(args.threads)] if args.threads else []
    ENGINE[:] = (["--workers", str(args.workers)] if args.workers else []) + \
        (["--dask", "local"] if args.dask else [])
    if args.missing is not None:
        globals()["MISSING"] = args.missing
    print(f"{'case':16s} {'pairs':>7s} {'study s':>8s} {'cpu s':>7s} {'process s':>9s} "
          f"{'peak MB':>8s} {'html MB':>8s}  (medians of {args.repeat})")
    for name in args.cases:
        if name not in CASES:           # a scaled case: NxM or firmNxM
            firm = name.startswith("firm")
            n, m = (int(v) for v in name.removeprefix("firm").split("x"))
            CASES[name] = ("firm", n, m) if firm else (n, m)
        if args.old is not None and CASES[name] is None:
            continue
        runs = [("", None)] + ([(" (base)", args.baseline)] if args.baseline else [])
        for tag, code in runs:
            r = run_case(name, args.repeat, args.old, code, not args.study_only)
            peak = r.get("peak_mb", r.get("study_peak_mb"))
            print(f"{(name + tag):16s} {int(r['pairs']):7d} {r['study']:8.2f} {r['cpu']:7.2f} "
                  f"{r.get('process', float('nan')):9.2f} {peak:8.0f} "
                  f"{r.get('html_mb', float('nan')):8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
