"""Freeze the golden master: run every scenario and write its result frames as Parquet.

    PYTHONPATH=$PWD python -m tests.golden.make_golden [scenario ...]

Run it only to freeze a deliberate new baseline; tests/test_golden.py compares against it.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from eventstudy import run_study
from tests.golden.scenarios import FRAMES, SCENARIOS

DATA = Path(__file__).parent / "data"


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Parquet (pyarrow, zstd): float64 bits, dtypes and ns datetimes (aware ones in UTC) kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.reset_index(drop=True).to_parquet(path, engine="pyarrow", compression="zstd",
                                            index=False)


def read_frame(scenario: str, frame: str) -> pd.DataFrame:
    return pd.read_parquet(DATA / scenario / f"{frame}.parquet", engine="pyarrow")


def run_scenario(name: str, folder: Path):
    events, config, kwargs = SCENARIOS[name](folder)
    return run_study(events, config, **kwargs)


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_scenario(name, Path(tmp))
        for frame in FRAMES:
            write_frame(getattr(result, frame), DATA / name / f"{frame}.parquet")
            back = read_frame(name, frame)
            pd.testing.assert_frame_equal(back, getattr(result, frame).reset_index(drop=True),
                                          check_exact=True, check_dtype=False)
        print(f"{name}: " + ", ".join(f"{f} {len(getattr(result, f))}" for f in FRAMES))


if __name__ == "__main__":
    main(sys.argv[1:])
