"""Freeze the golden master: run every scenario and write its result frames as Parquet.

    PYTHONPATH=$PWD python -m tests.golden.make_golden [scenario ...]     # into tests/golden/data
    PYTHONPATH=$PWD python -m tests.golden.make_golden --out DIR [...]    # elsewhere (the test)

Run it into tests/golden/data only to freeze a deliberate new baseline.

The scenarios always run in a process with one BLAS thread and, on a CPU with AVX-512,
OpenBLAS's SkylakeX kernels: OpenBLAS splits its sums by thread count and picks its kernels by
CPU (SkylakeX where the master was frozen, Haswell on an AMD EPYC, both AVX-512), and the GARCH
optimiser (SLSQP) turns such last-bit differences into 1e-7 changes (even a fit that converges
with one and not with the other), so results depend on the machine unless both are pinned.
The master was frozen with SkylakeX's kernels; a CPU without AVX-512 cannot run them, and its
GARCH rows may differ. The environment variables only work before numpy loads: hence the
child process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from tests.golden.scenarios import FRAMES, REPO, SCENARIOS

DATA = Path(__file__).parent / "data"


def _avx512() -> bool:
    try:
        return " avx512f " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              **({"OPENBLAS_CORETYPE": "SkylakeX"} if _avx512() else {})}


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Parquet (pyarrow, zstd): float64 bits, dtypes and ns datetimes (aware ones in UTC) kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.reset_index(drop=True).to_parquet(path, engine="pyarrow", compression="zstd",
                                            index=False)


def read_frame(scenario: str, frame: str, root: Path = DATA) -> pd.DataFrame:
    return pd.read_parquet(Path(root) / scenario / f"{frame}.parquet", engine="pyarrow")


def run_scenario(name: str, folder: Path):
    """One scenario's StudyResult, in this process (whatever its BLAS threads)."""
    from eventstudy import run_study
    events, config, kwargs = SCENARIOS[name](folder)
    return run_study(events, config, **kwargs)


def compute(names: list[str], out: Path, env_extra: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run the scenarios in a child process with one BLAS thread; frames go to `out`
    (`env_extra`: e.g. EVENTSTUDY_FASTPATH=on, to force the numba kernels)."""
    env = {**os.environ, **ONE_THREAD, **(env_extra or {}),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "tests.golden.make_golden", "--out", str(out),
                           *names], cwd=REPO, env=env, capture_output=True, text=True)


def _pinned() -> bool:
    return all(os.environ.get(k) == v for k, v in ONE_THREAD.items())


def main(argv: list[str]) -> int:
    out = DATA
    if argv[:1] == ["--out"]:
        out, argv = Path(argv[1]), argv[2:]
    names = argv or list(SCENARIOS)
    if not _pinned():
        done = compute(names, out)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_scenario(name, Path(tmp))
        for frame in FRAMES:
            write_frame(getattr(result, frame), out / name / f"{frame}.parquet")
            back = read_frame(name, frame, out)
            # the round trip keeps every value; object and str columns may trade dtypes
            pd.testing.assert_frame_equal(back, getattr(result, frame).reset_index(drop=True),
                                          check_exact=True, check_dtype=False)
        print(f"{name}: " + ", ".join(f"{f} {len(getattr(result, f))}" for f in FRAMES))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
