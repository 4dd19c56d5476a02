"""The result of a study: tidy frames, and the CSV files drawn from them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eventstudy import atomic
from eventstudy.config import Config

RESULT_FILES = ("alignment", "ar", "car", "aar", "tests", "skipped", "gaps", "provenance")


@dataclass
class StudyResult:
    """Everything a report, a table or a paper needs; nothing is recomputed downstream.

    Frames are keyed by (event_id, series[, model]): one index around many dates is the
    normal case, so never join on the series alone.
    """
    config: Config
    events: pd.DataFrame
    alignment: pd.DataFrame   # one row per (event, series): how day 0 was chosen
    ar: pd.DataFrame          # one row per (event, series, model, day) of the plot window
    car: pd.DataFrame         # one row per (event, series, model, window), with its t-test
    tests: pd.DataFrame       # every test statistic, per pair and per group
    panel: pd.DataFrame       # estimation residuals and event ARs: the inference input
    aar: pd.DataFrame         # per group, model and event day: AAR and CAAR with bands
    skipped: pd.DataFrame     # (event, series, model) not studied, with the reason
    gaps: pd.DataFrame        # missing bars and off-calendar bars, per series
    prices: pd.DataFrame      # (series, date, close) as used
    provenance: pd.DataFrame  # where each series' prices came from
    warnings: list[str] = field(default_factory=list)
    returns: dict[str, pd.DataFrame] = field(default_factory=dict)
    reuse: dict[str, int] = field(default_factory=dict)   # memo: results computed / reused
    # per series, every calendar session: date, close_utc, pos, close, ret, span, gap, and the
    # regressors the models use (rm, rm_lag1, rm_lead1, f_<id>): the input of hypotheses.py

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in RESULT_FILES}

    def write_csvs(self, directory: str | Path) -> list[Path]:
        """Write results/<name>.csv atomically, one file at a time; returns the paths.

        A file whose bytes would not change is left alone (its mtime too); a new file follows
        the umask, a replaced one keeps its mode (eventstudy.atomic)."""
        directory = Path(directory)
        paths = []
        for name, frame in self.frames().items():
            path = directory / f"{name}.csv"
            atomic.write_text(path, to_csv(frame))
            paths.append(path)
        return paths


def to_csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV: ISO dates and times in UTC, floats at full precision."""
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[col] = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[col] = values.dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, lineterminator="\n", float_format="%.10g")
