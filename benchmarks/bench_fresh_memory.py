"""What fresh memory costs on this machine: the seconds to write 1 GB the first time a process
touches it, against writing it again, with numpy's huge-page advice on and off.

    python benchmarks/bench_fresh_memory.py [--gb 1] [--repeat 3]

Why it matters: this machine is a KVM guest with a balloon driver (virtio_balloon), and
memory a process touches for the first time is zeroed by the kernel and, when the host has
taken the page back, faulted in at the host. Measured here on 2026-12-01 the first touch cost
from 0.5 to 8 s per GB (numpy's default MADV_HUGEPAGE on arrays of 4 MB and more; 0.6-1 s
without it at the same moment) against ~0.15-0.3 s per GB to write memory already touched:
the cost depends on what the machine did just before (cheap right after other processes
freed memory, dearest on an idle machine), which is much of the run-to-run spread of the big
benchmarks. At 5,000 x 100 on 2026-12-01 37 % of the study's CPU samples (`perf`) were this
page zeroing (`clear_page_erms` in `do_huge_pmd_anonymous_page`): peak memory is time. Each
measurement runs in a fresh process (numpy reads NUMPY_MADVISE_HUGEPAGE at import), the two
settings interleaved.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, time, numpy as np
n = int({gb} * (1 << 27))
t = time.perf_counter(); c = time.process_time()
a = np.empty(n); a.fill(1.0)
first, first_cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter(); a.fill(2.0); again = time.perf_counter() - t
print(json.dumps({{"first": first, "first_cpu": first_cpu, "again": again}}))
"""


def one(gb: float, hugepage: str) -> dict:
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": hugepage}
    out = subprocess.run([sys.executable, "-c", CHILD.format(gb=gb)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0, help="GB written per process (1)")
    ap.add_argument("--repeat", type=int, default=3, help="processes per setting (3)")
    a = ap.parse_args(argv)
    runs = {"1": [], "0": []}
    for _ in range(a.repeat):
        for hp in runs:
            runs[hp].append(one(a.gb, hp))
    print(f"{a.gb:g} GB, median of {a.repeat} fresh processes per setting")
    print(f"{'NUMPY_MADVISE_HUGEPAGE':24s} {'first touch s/GB':>17s} {'its CPU s/GB':>13s} "
          f"{'rewrite s/GB':>13s}")
    for hp, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) / a.gb for k in rs[0]}
        print(f"{hp + (' (numpy default)' if hp == '1' else ''):24s} {med['first']:17.2f} "
              f"{med['first_cpu']:13.2f} {med['again']:13.2f}")


if __name__ == "__main__":
    main()
