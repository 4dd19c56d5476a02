"""Timings of `eventstudy run --offline` on the bundled study: full, unchanged, one new event.

    python benchmarks/bench_run.py [--repeat 3]

Each timing is the wall time of the whole command in a fresh process (import included), the
median of --repeat runs. "full" starts from an empty output folder and an empty cache; "no
change" reruns it; "one new event" appends an event to a copy of events.csv first (a copy of
liberation-day's row, moved to 2025-10-01, so its data is there). Also prints the size of
every page. Writes nothing outside a temporary folder.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEW_EVENT = ("bench-new-event,2025-10-01T16:00:00-04:00,hour,A benchmark copy of an event,"
             "escalation,japan,https://example.org/benchmark\n")


def run(events: Path, out: Path, cache: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "eventstudy.cli", "run", "--offline",
                           "--events", str(events), "--out", str(out), "--cache", str(cache)],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, proc.stdout.strip().splitlines()[-2]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = {"full": [], "no change": [], "one new event": []}
    lines = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            events = tmp / "events.csv"
            shutil.copy(REPO / "events.csv", events)
            out, cache = tmp / "reports", tmp / "cache"
            for name in rows:
                if name == "one new event":
                    with open(events, "a", encoding="utf-8") as fh:
                        fh.write(NEW_EVENT)
                seconds, line = run(events, out, cache)
                rows[name].append(seconds)
                lines[name] = line
            sizes = sorted((p.relative_to(out).as_posix(), p.stat().st_size)
                           for p in out.rglob("*") if p.is_file())
    print("| run | median wall time (s) | runs | what it did |")
    print("|---|---|---|---|")
    for name, times in rows.items():
        print(f"| {name} | {statistics.median(times):.2f} | "
              f"{', '.join(f'{t:.2f}' for t in times)} | {lines[name][:160]} |")
    print("\n| file | bytes |\n|---|---|")
    for name, size in sizes:
        print(f"| {name} | {size:,} |")


if __name__ == "__main__":
    main()
