"""A result frame too large to hold: written per partition to a Parquet dataset.

Layout (hive-style, readable by pyarrow, Dask, DuckDB or Spark without us):

    <root>/event=<k>/block-<b>-model-<m>.parquet

`k` is the event's number among the study's events sorted by id (modulo `EVENT_DIRS`: with
more events than that, say a million firm-specific ones, events share folders), `b` the block
of securities (pairs sorted by security), `m` the model. Each file holds the frame's columns
plus `_p` (the pair's position) and `_m` (the model's), which put rows back in the in-memory
frame's order.
Every file is written atomically (`eventstudy.atomic`); Parquet cannot execute code on read.
"""
from __future__ import annotations

import io
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import atomic

#: at most this many event folders: a block of securities writes one file per folder it
#: touches, so a million firm-specific events must not mean a million folders
EVENT_DIRS = 100


class PartitionedFrame:
    """Write with `write(frame, block=, model=)`; read the whole frame in order with `frame()`,
    or a part with `read(event_id=..., series=..., columns=...)`."""

    def __init__(self, root: str | Path | None, event_ids, columns: list[str]):
        if root is None:            # a temporary dataset, removed with this object
            root = tempfile.mkdtemp(prefix="eventstudy-ar-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, root, True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._events = event_ids
        self.columns = list(columns)
        self.files: list[Path] = []
        self.rows = 0
        self._pending = []          # writers deferred until the dataset is first read

    @property
    def _code(self) -> pd.Series:
        """Each event's folder: its number among the events sorted by id, modulo
        EVENT_DIRS (worked out when first needed: a million ids take a while)."""
        if not isinstance(self._events, pd.Series):
            events = pd.Index(pd.unique(pd.Series(self._events, dtype="str"))).sort_values()
            self._events = pd.Series(np.arange(len(events)) % EVENT_DIRS,
                                     index=events.astype(object))
        return self._events

    @property
    def temporary(self) -> bool:
        """A dataset of our own (removed with this object), not a folder the caller named."""
        return hasattr(self, "_cleanup")

    def defer(self, fill) -> None:
        """Call `fill()` (which writes the partitions) when the dataset is first read."""
        self._pending.append(fill)

    def _ready(self) -> None:
        while self._pending:
            self._pending.pop(0)()

    def write(self, frame: pd.DataFrame, *, block: int, model: int) -> None:
        """One partition's rows (with `_p` and `_m`), one file per event folder; written at
        once even inside a report's `atomic.batch` (the dataset is read back right away)."""
        if not len(frame):
            return
        code = self._code.reindex(frame["event_id"].astype(str)).to_numpy()
        folders = np.unique(code)
        for k in folders:
            part = frame[code == k] if len(folders) > 1 else frame
            buffer = io.BytesIO()
            part.reset_index(drop=True).to_parquet(buffer, engine="pyarrow", index=False)
            name = f"block-{block:05d}-model-{model:02d}.parquet"
            path = self.root / f"event={int(k):04d}" / name
            with atomic.outside_batch():
                atomic.write_bytes(path, buffer.getvalue())
            self.files.append(path)
            self.rows += len(part)

    def sibling(self, name: str, columns: list[str]) -> "PartitionedFrame":
        """Another frame of the same study in a folder beside this one (`<root>/../<name>`;
        for a temporary dataset, another temporary one)."""
        root = None if hasattr(self, "_cleanup") else self.root.parent / name
        events = self._events.index if isinstance(self._events, pd.Series) else self._events
        return PartitionedFrame(root, events, columns)

    def dataset(self):
        """The pyarrow dataset of every file (for filters and column projection)."""
        import pyarrow.dataset as ds
        self._ready()
        return ds.dataset([str(f) for f in self.files], format="parquet")

    def read(self, event_id=None, series=None, columns=None) -> pd.DataFrame:
        """The rows of one event (and/or one series), in the frame's order: only that
        event's folder is opened."""
        import pyarrow.dataset as ds
        self._ready()
        files = self.files
        if event_id is not None:
            k = self._code.get(str(event_id))
            if k is None:
                return self._empty(columns)
            files = [f for f in files if f.parent.name == f"event={int(k):04d}"]
        if not files:
            return self._empty(columns)
        flt = None
        if event_id is not None:
            flt = ds.field("event_id") == str(event_id)
        if series is not None:
            s = ds.field("series") == str(series)
            flt = s if flt is None else flt & s
        wanted = list(columns or self.columns)
        table = ds.dataset([str(f) for f in files], format="parquet").to_table(
            columns=wanted + ["_p", "_m"], filter=flt)
        return _in_order(table.to_pandas(), wanted)

    def frame(self, columns=None) -> pd.DataFrame:
        """The whole frame, as the in-memory study would hold it (same rows, same order)."""
        self._ready()
        if not self.files:
            return self._empty(columns)
        wanted = list(columns or self.columns)
        return _in_order(pd.concat([pd.read_parquet(f, engine="pyarrow",
                                                    columns=wanted + ["_p", "_m"])
                                    for f in self.files], ignore_index=True), wanted)

    def _empty(self, columns) -> pd.DataFrame:
        return pd.DataFrame(columns=list(columns or self.columns))

    def __len__(self) -> int:
        self._ready()
        return self.rows

    def __repr__(self) -> str:
        self._ready()
        return f"PartitionedFrame({str(self.root)!r}, {self.rows:,} rows, {len(self.files)} files)"


def _in_order(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Rows by pair, then model; within one (pair, model) the file's (day) order is kept."""
    order = np.lexsort((frame["_m"].to_numpy(), frame["_p"].to_numpy()))
    return frame.iloc[order][list(columns)].reset_index(drop=True)
