"""The same synthetic study in-process, on a process pool and on a Dask LocalCluster (issue #9).

    python benchmarks/bench_executors.py                       # 500 x 50, 3 runs each
    python benchmarks/bench_executors.py --case 500x50 --repeat 5
    python benchmarks/bench_executors.py --case 200x2 --models garch

Each run is a fresh interpreter: `study` is `run_study` wall time including starting the
executor (spawning the pool, starting the cluster) and closing it; `cpu` the driver's CPU
seconds; `workers cpu` the CPU seconds of its child processes (the pool's or the cluster's
workers, counted once they have exited). The case is bench_scale's (a market factor plus
noise, market model, the full group test battery per event and pooled). The frames of every
engine are checked against the in-process run's (bitwise) before timings are printed.
Quote medians: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_scale  # noqa: E402

ENGINES = {"in-process": "None", "--workers 2": "EngineSettings(workers=2)",
           "--dask local": "EngineSettings(dask='local')"}
FRAMES = ("alignment", "ar", "car", "tests", "aar", "skipped", "gaps")


def one_run(events: Path, config: Path, engine: str, check: Path | None) -> dict:
    code = (
        "import json, resource, time, sys\n"
        "import pandas as pd\n"
        "from eventstudy import load_events, load_config, run_study\n"
        "from eventstudy.executors import EngineSettings\n"
        f"ev = load_events({str(events)!r}); cfg = load_config({str(config)!r})\n"
        "import eventstudy.engine, eventstudy.inference\n"
        "w, c = time.perf_counter(), time.process_time()\n"
        f"r = run_study(ev, cfg, offline=True, cache_dir={str(config.parent / 'cache')!r}, "
        f"memoize=False, executor={ENGINES[engine]})\n"
        "out = {'study': time.perf_counter() - w, 'cpu': time.process_time() - c,\n"
        "       'workers_cpu': sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f)\n"
        "                          for f in ('ru_utime', 'ru_stime')),\n"
        "       'pairs': len(r.alignment)}\n"
        f"check = {str(check) if check else None!r}\n"
        f"names = {FRAMES!r}\n"
        "if check:\n"
        "    import pathlib; p = pathlib.Path(check)\n"
        "    if not (p / 'ar.parquet').exists():\n"
        "        p.mkdir(exist_ok=True)\n"
        "        [getattr(r, n).to_parquet(p / f'{n}.parquet') for n in names]\n"
        "    else:\n"
        "        for n in names:\n"
        "            import io; b = io.BytesIO(); getattr(r, n).to_parquet(b); b.seek(0)\n"
        "            pd.testing.assert_frame_equal(pd.read_parquet(b),\n"
        "                pd.read_parquet(p / f'{n}.parquet'), check_exact=True, obj=n)\n"
        "        out['identical'] = True\n"
        "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=config.parent,
                          env=bench_scale._env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="500x50", help="SECURITIESxEVENTS")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="market_model",
                        help="comma-separated models (e.g. garch: one optimisation per pair)")
    args = parser.parse_args(argv)
    n_sec, n_events = (int(x) for x in args.case.split("x"))
    rows = {e: [] for e in ENGINES}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        events, config = bench_scale.make_case(root, n_sec, n_events)
        models = ", ".join(f'"{m}"' for m in args.models.split(","))
        config.write_text(config.read_text().replace('models = ["market_model"]',
                                                     f"models = [{models}]"))
        check = root / "reference"
        for i in range(args.repeat):          # interleaved: load changes hit every engine
            for engine in ENGINES:
                rows[engine].append(one_run(events, config, engine, check if i == 0 else None))
    print(f"{args.case}: {rows['in-process'][0]['pairs']} pairs, {args.models}, full battery; "
          f"medians of {args.repeat}")
    print(f"{'engine':14s} {'study s':>8s} {'cpu s':>7s} {'workers cpu s':>14s}  frames")
    for engine, r in rows.items():
        same = "reference" if engine == "in-process" else (
            "identical" if r[0].get("identical") else "?")
        print(f"{engine:14s} {statistics.median(x['study'] for x in r):8.2f} "
              f"{statistics.median(x['cpu'] for x in r):7.2f} "
              f"{statistics.median(x['workers_cpu'] for x in r):14.2f}  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
