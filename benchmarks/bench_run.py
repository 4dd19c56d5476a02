"""Timings of `eventstudy run --offline` on the bundled study: full, unchanged, one new event.

    python benchmarks/bench_run.py [--repeat 5] [--baseline /path/to/other/checkout]

Each timing is the wall time of the whole command in a fresh process (import included), the
median of --repeat runs, with its CPU seconds (user + system) beside it: on a shared machine
the CPU time is the steadier figure. --baseline times another checkout (e.g. main) in the
same run, interleaved with this one, so both see the same machine.

"cold full run" starts from an empty output folder and an empty cache (--cache, and
$EVENTSTUDY_CACHE, where the calendars' session tables are kept); "rerun, nothing new" reruns
it; "one new event" appends an event to a copy of events.csv first (a copy of
liberation-day's row, moved to 2025-10-01, so its data is there). Targets (issue #12): 3.0 s,
1.0 s and 1.5 s on a quiet machine. Also prints the size of every page. Writes nothing
outside a temporary folder. Runs the eventstudy found on sys.path (set PYTHONPATH to a
checkout to time it), or with --baseline both checkouts.

Compiled bytecode: an installed package has its .pyc files, so each checkout runs once
untimed first with PYTHONPYCACHEPREFIX in the temporary folder (PYTHONDONTWRITEBYTECODE is
dropped for the runs); otherwise a run would compile every module of ours each time.
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


def run(events: Path, out: Path, cache: Path, env=None, cwd: Path = REPO,
        ) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak resident memory (MiB) and the summary line of one CLI
    run (`env`: the child's environment, e.g. PYTHONPATH naming the checkout to time). The
    child runs in `cwd`, the checkout timed: its study.toml is the config, and `python -m`
    puts that folder first on sys.path (before PYTHONPATH), so it is also the code run."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "eventstudy.cli", "run", "--offline",
                                 "--events", str(events), "--out", str(out), "--cache",
                                 str(cache)], stdout=log, stderr=subprocess.DEVNULL, text=True,
                                env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode:
            raise SystemExit(f"eventstudy run failed with exit code {proc.returncode}")
        log.seek(0)
        lines = log.read().strip().splitlines()
        line = next((x for x in lines if x.startswith(("rebuilt", "nothing changed"))),
                    lines[-1] if lines else "")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, line


def child_env(checkout: Path | None, pycache: Path) -> dict:
    """The environment of a timed run: `checkout` first on sys.path (None: the eventstudy
    this Python finds), bytecode cached under `pycache`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout)] + [p for p in [
            os.environ.get("PYTHONPATH")] if p])
    return env


def scenario(env: dict, rows: dict, tmp: Path, cwd: Path = REPO) -> list[tuple[str, int]]:
    """The three runs in a fresh folder: their figures appended to `rows`; the page sizes."""
    events = tmp / "events.csv"
    shutil.copy(REPO / "events.csv", events)
    out, cache = tmp / "reports", tmp / "cache"
    # the calendars' session tables are kept under $EVENTSTUDY_CACHE (not --cache): point it
    # at the same empty folder, so the cold run builds them as a first run does
    env = {**env, "EVENTSTUDY_CACHE": str(cache)}
    for name in NAMES:
        if name == "one new event":
            with open(events, "a", encoding="utf-8") as fh:
                fh.write(new_event_row(events))
        rows[name].append(run(events, out, cache, env, cwd))
    return sorted((p.relative_to(out).as_posix(), p.stat().st_size)
                  for p in out.rglob("*") if p.is_file())


NAMES = ("cold full run", "rerun, nothing new", "one new event")
TARGETS = {"cold full run": 3.0, "rerun, nothing new": 1.0, "one new event": 1.5}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout to time in the same run (e.g. a worktree of main)")
    args = parser.parse_args(argv)
    trees = {"this": None} if args.baseline is None else \
        {"baseline": args.baseline.resolve(), "this": REPO}
    rows = {tree: {name: [] for name in NAMES} for tree in trees}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as top:
        top = Path(top)
        envs = {tree: child_env(path, top / f"pycache-{tree}") for tree, path in trees.items()}
        for tree, env in envs.items():          # untimed: compiles and caches the bytecode
            with tempfile.TemporaryDirectory(dir=top) as tmp:
                scenario(env, {name: [] for name in NAMES}, Path(tmp), trees[tree] or REPO)
        for _ in range(args.repeat):
            for tree, env in envs.items():
                with tempfile.TemporaryDirectory(dir=top) as tmp:
                    sizes = scenario(env, rows[tree], Path(tmp), trees[tree] or REPO)
    print(f"| run | checkout | median of {args.repeat} (s) | target (s) | CPU, median (s) "
          "| runs (s) | peak memory (MiB) | what it did |")
    print("|---|---|---|---|---|---|---|---|")
    for name in NAMES:
        for tree in trees:
            got = rows[tree][name]
            wall = [g[0] for g in got]
            label = tree if args.baseline is None or tree == "baseline" else "this"
            if args.baseline is not None and tree == "baseline":
                label = f"baseline ({args.baseline.name})"
            print(f"| {name} | {label} | {statistics.median(wall):.2f} | {TARGETS[name]:.1f} "
                  f"| {statistics.median(g[1] for g in got):.2f} "
                  f"| {', '.join(f'{t:.2f}' for t in wall)} | {max(g[2] for g in got):.0f} "
                  f"| {got[-1][3][:120]} |")
    print(f"\nload average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"on {os.cpu_count()} CPUs (figures above a load of about 1 per CPU are not quiet)")
    print("\n| file | bytes |\n|---|---|")
    for name, size in sizes:
        print(f"| {name} | {size:,} |")


if __name__ == "__main__":
    main()
