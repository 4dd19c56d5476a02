"""Timings of `eventstudy run --offline` on the bundled study: full, unchanged, one new event.

    python benchmarks/bench_run.py [--repeat 5]

Each timing is the wall time of the whole command in a fresh process (import included), the
median of --repeat runs. "cold full run" starts from an empty output folder and an empty
cache; "rerun, nothing new" reruns it; "one new event" appends an event to a copy of
events.csv first (a copy of liberation-day's row, moved to 2025-10-01, so its data is there).
Targets (issue #12): 3.0 s, 1.0 s and 1.5 s on a quiet machine. Also prints the size of every
page. Writes nothing outside a temporary folder. Runs the eventstudy found on sys.path (set
PYTHONPATH to a checkout to time it).
"""
from __future__ import annotations

import argparse
import os
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


def new_event_row(events: Path) -> str:
    """NEW_EVENT with an empty cell for every optional column the file has beyond it (scope)."""
    header = events.read_text("utf-8").splitlines()[0].split(",")
    return NEW_EVENT.rstrip("\n") + "," * (len(header) - 7) + "\n"


def run(events: Path, out: Path, cache: Path) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MiB) and the summary line of one CLI run."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "eventstudy.cli", "run", "--offline",
                                 "--events", str(events), "--out", str(out), "--cache",
                                 str(cache)], stdout=log, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode:
            raise SystemExit(f"eventstudy run failed with exit code {proc.returncode}")
        log.seek(0)
        lines = log.read().strip().splitlines()
        line = next((x for x in lines if x.startswith(("rebuilt", "nothing changed"))),
                    lines[-1] if lines else "")
    return seconds, usage.ru_maxrss / 1024, line


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = {"cold full run": [], "rerun, nothing new": [], "one new event": []}
    targets = {"cold full run": 3.0, "rerun, nothing new": 1.0, "one new event": 1.5}
    memory = {name: [] for name in rows}
    lines = {}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            events = tmp / "events.csv"
            shutil.copy(REPO / "events.csv", events)
            out, cache = tmp / "reports", tmp / "cache"
            for name in rows:
                if name == "one new event":
                    with open(events, "a", encoding="utf-8") as fh:
                        fh.write(new_event_row(events))
                seconds, mib, line = run(events, out, cache)
                rows[name].append(seconds)
                memory[name].append(mib)
                lines[name] = line
            sizes = sorted((p.relative_to(out).as_posix(), p.stat().st_size)
                           for p in out.rglob("*") if p.is_file())
    print(f"| run | median of {args.repeat} (s) | target (s) | runs (s) | peak memory (MiB) "
          "| what it did |")
    print("|---|---|---|---|---|---|")
    for name, times in rows.items():
        print(f"| {name} | {statistics.median(times):.2f} | {targets[name]:.1f} | "
              f"{', '.join(f'{t:.2f}' for t in times)} | {max(memory[name]):.0f} | "
              f"{lines[name][:160]} |")
    print(f"\nload average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"on {os.cpu_count()} CPUs (figures above a load of about 1 per CPU are not quiet)")
    print("\n| file | bytes |\n|---|---|")
    for name, size in sizes:
        print(f"| {name} | {size:,} |")


if __name__ == "__main__":
    main()
