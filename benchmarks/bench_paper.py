"""CPU seconds of the adjusted p-values and of the paper tables on the real universe study.

    python benchmarks/bench_paper.py [--repeat 3]

Runs the universe example of the README once (events.csv x examples/universe/study.toml,
offline, a temporary cache), then times, on its frames (78,216 CAR rows, 187,680 test rows):
the adjusted p-values as `run_study` computes them (`adjust_results`: one sort over every
family), the same by calling statsmodels' `multipletests` once per family and method (the
obvious way; its Holm calls gc.collect() every time, which costs in a process holding a
market's frames), and `export` of the market-model tables (LaTeX, Markdown, xlsx). Medians
of --repeat runs, process CPU seconds. Writes nothing outside a temporary folder.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        func()
        times.append(time.process_time() - started)
    return statistics.median(times)


def per_family(car, tests):
    """multipletests once per family and method: the reference the vectorised code equals."""
    from eventstudy.multitest import CAR_FAMILY, TESTS_FAMILY, adjust
    tests = tests.assign(_level=tests["group"].fillna("") != "")
    for frame, family in ((car, CAR_FAMILY), (tests, TESTS_FAMILY)):
        for _, rows in frame.groupby(list(family), sort=False):
            for method in ("holm", "fdr_bh"):
                adjust(rows["p_value"].to_numpy(), method)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from eventstudy import export, load_config, load_events, run_study
    from eventstudy.multitest import adjust_results
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_study(load_events(REPO / "events.csv"),
                           load_config(REPO / "examples" / "universe" / "study.toml"),
                           offline=True, cache_dir=Path(tmp) / "cache")
        print(f"study: {time.perf_counter() - started:.1f} s wall; car {len(result.car):,} "
              f"rows, tests {len(result.tests):,} rows")
    car = result.car.drop(columns=["p_holm", "p_bh"])
    tests = result.tests.drop(columns=["p_holm", "p_bh"])
    print(f"adjusted p-values, all families at once: "
          f"{cpu(lambda: adjust_results(car, tests), args.repeat):.2f} s CPU")
    print(f"adjusted p-values, multipletests per family: "
          f"{cpu(lambda: per_family(car, tests), args.repeat):.2f} s CPU")
    options = {"models": ["market_model"]}
    for fmt in export.FORMATS:
        seconds = cpu(lambda: export.render(result.tables(**options), fmt), args.repeat)
        size = len(export.render(result.tables(**options), fmt))
        print(f"export --format {fmt} --model market_model: {seconds:.2f} s CPU, "
              f"{size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
