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
    #                           (a big study's is on disk: see `ar_store` below)
    car: pd.DataFrame         # one row per (event, series, model, window), with its t-test
    tests: pd.DataFrame       # every test statistic, per pair and per group
    panel_source: object      # builds `panel` (estimation residuals and event ARs) on use
    aar: pd.DataFrame         # per group, model and event day: AAR and CAAR with bands
    skipped: pd.DataFrame     # (event, series, model) not studied, with the reason
    gaps: pd.DataFrame        # missing bars and off-calendar bars, per series
    prices: pd.DataFrame      # (series, date, close) as used
    provenance: pd.DataFrame  # where each series' prices came from
    warnings: list[str] = field(default_factory=list)
    returns: dict[str, pd.DataFrame] = field(default_factory=dict)
    reuse: dict[str, int] = field(default_factory=dict)   # memo: results computed / reused
    securities: pd.DataFrame | None = None   # one row per security: series, universe, name,
    #                                          and the universe's metadata (sector, ...)
    firm_events: pd.DataFrame | None = None  # firm-specific events (event_id, series, ...)
    group_members: pd.DataFrame | None = None  # group, event_id, series: each group's pairs
    #                                            (a `by` group's one per value, resolved)
    # per series, every calendar session: date, close_utc, pos, close, ret, span, gap, and the
    # regressors the models use (rm, rm_lag1, rm_lead1, f_<id>): the input of hypotheses.py

    @property
    def panel(self) -> pd.DataFrame:
        """The long inference input: one row per (pair, model, day) of the estimation window
        and the event days; built when first read (it is large for a whole market)."""
        if not isinstance(self.panel_source, pd.DataFrame):
            self.panel_source = self.panel_source()
        return self.panel_source

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

    def write_parquet(self, directory: str | Path) -> list[Path]:
        """Write results/<name>.parquet atomically (and securities.parquet when the study has
        universes): the per-pair detail a universe's pages link to instead of listing it.
        Parquet keeps dtypes and zones, and reading it cannot execute code."""
        import io
        directory = Path(directory)
        frames = self.frames()
        securities = getattr(self, "securities", None)
        if isinstance(securities, pd.DataFrame):
            frames["securities"] = securities
        paths = []
        for name, frame in frames.items():
            buffer = io.BytesIO()
            frame.reset_index(drop=True).to_parquet(buffer, engine="pyarrow", index=False)
            path = directory / f"{name}.parquet"
            atomic.write_bytes(path, buffer.getvalue())
            paths.append(path)
        return paths


def _get_ar(self) -> pd.DataFrame:
    ar = self.__dict__["_ar"]
    return ar if isinstance(ar, pd.DataFrame) else ar.frame()


def _set_ar(self, value) -> None:
    self.__dict__["_ar"] = value


# `result.ar` is always a DataFrame. A study too big to hold its ARs (engine.AR_IN_MEMORY_ROWS)
# keeps them in a Parquet dataset (`eventstudy.store.PartitionedFrame`): `result.ar` then reads
# it whole, and `result.ar_store.read(event_id=...)` reads one event's rows only.
StudyResult.ar = property(_get_ar, _set_ar, doc="One row per (event, series, model, day).")
StudyResult.ar_store = property(
    lambda self: None if isinstance(self.__dict__["_ar"], pd.DataFrame) else self.__dict__["_ar"],
    doc="The Parquet dataset holding `ar` (None when it is in memory).")


def to_csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV: ISO dates and times in UTC, floats at full precision (the shortest
    text that reads back to the same double), NaN as an empty cell, booleans True/False.

    Written by pyarrow's C++ writer: a whole market's ar.csv is millions of cells."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    columns = {}
    for col in frame.columns:
        values = frame[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            stamps = pa.array(values.dt.tz_convert("UTC").dt.tz_localize(None)
                              .to_numpy("datetime64[s]"), from_pandas=True)
            text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = pa.array(values.to_numpy("datetime64[D]"), from_pandas=True).cast(pa.string())
        elif pd.api.types.is_bool_dtype(values):
            text = pc.if_else(pa.array(values.to_numpy(bool)), "True", "False")
        elif pd.api.types.is_float_dtype(values):
            text = pa.array(values.to_numpy(float), from_pandas=True)
        elif pd.api.types.is_integer_dtype(values):
            text = pa.array(values.to_numpy())
        else:
            try:
                text = pa.array(values.to_numpy(dtype=object), type=pa.string(),
                                from_pandas=True)
            except (pa.ArrowTypeError, pa.ArrowInvalid):   # mixed objects: their str()
                text = pa.array(values.astype(object).where(values.notna(), "").astype(str)
                                .to_numpy(dtype=object), type=pa.string())
        columns[str(col)] = pc.fill_null(text, "") if pa.types.is_string(text.type) else text
    table = pa.table(columns) if columns else pa.table({})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
    text = sink.getvalue().to_pybytes().decode("utf-8")
    if not len(frame.columns):
        return "\n"
    return text.replace("\r\n", "\n")
