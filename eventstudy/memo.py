"""Results of earlier runs, keyed by a hash of everything they were computed from.

Why: an analyst adds one event and reruns; every other (event, security, model) has the same
prices, windows and code, so its numbers are read from the memo instead of being computed
again (a GARCH fit costs ~10 ms a pair and its first one ~0.15 s of imports; a group's test battery more). A pair's key is a
128-bit hash of its gathered rows of returns, spans, gaps, regressors and excluded days, its
day 0 and data range, the model, the study parameters and the source of the computing
modules, computed for all pairs at once (`row_keys`); a group's key hashes its members' keys
and the test parameters.

Storage is Parquet (numbers and strings only): reading a memo file cannot execute code, which
a pickle could (a crafted `study-memo.pkl` in a shared cache folder ran a command). The memo
is a cache: a missing, stale, unreadable or misshapen file means everything is computed, with
a warning where something was wrong; a memo that cannot be written is a warning too, never a
failed run. `save` keeps only what this run used or computed.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.atomic import atomic_path, batch

MEMO_DIR = "memo"
FORMAT = "eventstudy-memo-2"


class MemoWarning(RuntimeWarning):
    """The memo could not be read or written; results are computed afresh."""


_MODULES = ("study.py", "engine.py", "fit.py", "panel.py", "models.py", "inference.py",
            "calendars.py")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The computing modules' source and the numeric libraries' versions."""
    from eventstudy.runstate import library_versions
    h = hashlib.sha256()
    root = resources.files("eventstudy")
    for name in _MODULES:
        h.update(root.joinpath(name).read_bytes())
    h.update(repr(library_versions(("pandas", "numpy", "scipy", "statsmodels",
                                    "exchange_calendars"))).encode())
    return h.hexdigest()


def _constants(n: int, salt: bytes) -> np.ndarray:
    """n odd uint64 multipliers drawn from the salt (the same every run)."""
    seed = int.from_bytes(hashlib.sha256(salt).digest()[:8], "little")
    return np.random.default_rng(seed).integers(0, 2 ** 63, size=n, dtype=np.uint64) * \
        np.uint64(2) + np.uint64(1)


def row_keys(arrays: list[np.ndarray], scalars: list[np.ndarray], salt: str) -> np.ndarray:
    """(P, 2) uint64 hashes of each row: arrays (P, L) and per-row scalars (P,), vectorised.

    Each value's bits are hashed (pandas' hash_array), weighted by a constant of its position
    and summed modulo 2^64, twice with independent constants: a change anywhere in a row
    changes its key."""
    base = (code_digest() + "\x00" + salt).encode()
    P = len(scalars[0]) if scalars else len(arrays[0])
    out = np.zeros((P, 2), np.uint64)
    parts = [np.ascontiguousarray(a).reshape(P, -1) for a in arrays] + \
            [np.asarray(s).reshape(P, 1) for s in scalars]
    with np.errstate(over="ignore"):
        for i, a in enumerate(parts):
            bits = (a.astype(np.uint8) if a.dtype == bool else a).view(np.uint64) \
                if a.dtype.itemsize == 8 else a.astype(np.int64).view(np.uint64)
            h = pd.util.hash_array(bits.ravel(), categorize=False).reshape(P, -1)
            for j in range(2):
                k = _constants(h.shape[1], base + bytes([i, j]))
                out[:, j] += (h * k[None, :]).sum(axis=1, dtype=np.uint64)
    return out


class Memo:
    """Per-model tables of pair results and a table of group test results, on disk."""

    def __init__(self, root: str | Path | None, *, fresh: bool = False):
        """`fresh`: compute everything (the old entries are not read) and save the new ones."""
        self.dir = Path(root) / MEMO_DIR if root is not None else None
        self.fresh = fresh
        self._old: dict[str, tuple[pd.Index, dict]] = {}
        self._new: dict[str, list] = {}
        self._groups_old: dict[str, pd.DataFrame] | None = None
        self._groups_new: dict[str, pd.DataFrame] = {}
        self.warnings: list[str] = []

    # -- pairs --------------------------------------------------------------------------
    def _path(self, model: str) -> Path:
        return self.dir / f"pairs-{model}.parquet"

    def _load(self, model: str, like: dict):
        if model in self._old:
            return self._old[model]
        index, columns = pd.Index([], dtype=np.uint64), {}
        path = self._path(model) if self.dir is not None else None
        if not self.fresh and path is not None and path.is_file():
            try:
                index, columns = _read_pairs(path, like)
            except _Stale:
                pass
            except Exception as exc:   # unreadable or misshapen: no memo for this model
                self._warn(f"ignoring unreadable study memo {path} ({_one_line(exc)})")
                index, columns = pd.Index([], dtype=np.uint64), {}
        self._old[model] = (index, columns)
        return self._old[model]

    def lookup(self, model: str, keys: np.ndarray, like: dict) -> tuple[np.ndarray, dict]:
        """Which rows of `keys` are stored, and their columns (shaped like `like`'s)."""
        index, columns = self._load(model, like)
        if not len(index):
            return np.zeros(len(keys), bool), {}
        at = index.get_indexer(keys[:, 0])
        hit = at >= 0
        hit[hit] = columns["k2"][at[hit]] == keys[hit, 1]
        rows = at[hit]
        return hit, {name: values[rows] for name, values in columns.items()}

    def keep(self, model: str, keys: np.ndarray, columns: dict) -> None:
        """Rows to store for next time (this run's, computed or reused)."""
        self._new.setdefault(model, []).append((keys, columns))

    # -- groups -------------------------------------------------------------------------
    def group_key(self, model: str, member_keys: np.ndarray, windows, n_boot: int, seed: int,
                  *options) -> str:
        h = hashlib.sha256(code_digest().encode())
        h.update(repr((model, list(windows), n_boot, seed, options)).encode())
        h.update(np.ascontiguousarray(member_keys).tobytes())
        return h.hexdigest()

    def group(self, key: str) -> pd.DataFrame | None:
        if self._groups_old is None:
            self._groups_old = {}
            path = self.dir / "groups.parquet" if self.dir is not None else None
            if not self.fresh and path is not None and path.is_file():
                try:
                    table, _ = _read(path)
                    if table is not None:                 # (None: other code's memo)
                        table = table.to_pandas()
                        self._groups_old = {k: f.drop(columns="key").reset_index(drop=True)
                                            for k, f in table.groupby("key", sort=False)}
                except Exception as exc:
                    self._warn(f"ignoring unreadable study memo {path} ({_one_line(exc)})")
        return self._groups_old.get(key)

    def keep_group(self, key: str, frame: pd.DataFrame) -> None:
        self._groups_new[key] = frame

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Write what this run used or computed; a failure is a warning, never an error."""
        if self.dir is None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with batch():       # renamed together: one fsync of the folder, not one a file
                for model, parts in self._new.items():
                    _write_pairs(self._path(model), parts)
                if self._groups_new:
                    frame = pd.concat([f.assign(key=k) for k, f in self._groups_new.items()],
                                      ignore_index=True)
                    _write_parquet(self.dir / "groups.parquet", frame)
        except OSError as exc:
            self._warn(f"could not save the study memo in {self.dir} ({_one_line(exc)}); "
                       "the next run computes everything again")

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        warnings.warn(text, MemoWarning, stacklevel=3)


class _Stale(Exception):
    """Written by other code: not an error, just not usable."""


def _read(path: Path):
    """The file's table and our metadata, one open (ParquetFile: read_table's dataset layer
    costs an import and ~1 ms a file, for nothing with one file)."""
    import pyarrow.parquet as pq
    with pq.ParquetFile(path) as pf:
        raw = (pf.schema_arrow.metadata or {}).get(b"eventstudy")
        meta = json.loads(raw) if raw else {}
        if meta.get("format") != FORMAT or meta.get("code") != code_digest():
            return None, meta
        return pf.read(), meta


def _read_pairs(path: Path, like: dict) -> tuple[pd.Index, dict]:
    table, meta = _read(path)
    if meta.get("format") != FORMAT:
        raise ValueError("not an eventstudy memo")
    if meta.get("code") != code_digest():
        raise _Stale()
    n = table.num_rows
    columns = {"k2": table.column("k2").to_numpy()}
    for name, want in like.items():
        col = table.column(name).combine_chunks()
        if name == "reason":
            values = np.asarray(col.to_pylist(), dtype=object)
        elif want.ndim == 2:
            width = want.shape[1]
            if col.type.list_size != width:
                raise ValueError(f"{name} has {col.type.list_size} values a row, not {width}")
            values = col.flatten().to_numpy(zero_copy_only=False).reshape(n, width)
        else:
            values = col.to_numpy(zero_copy_only=False)
        columns[name] = values.astype(want.dtype, copy=False) if name != "reason" else values
    return pd.Index(table.column("k1").to_numpy()), columns


def _write_pairs(path: Path, parts: list) -> None:
    import pyarrow as pa
    keys = np.concatenate([k for k, _ in parts])
    names = list(parts[0][1])
    cols = {"k1": pa.array(keys[:, 0]), "k2": pa.array(keys[:, 1])}
    for name in names:
        values = np.concatenate([c[name] for _, c in parts])
        if name == "reason":
            cols[name] = pa.array(values.astype(str))
        elif values.ndim == 2:
            cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()),
                                                           values.shape[1])
        else:
            cols[name] = pa.array(values)
    table = pa.table(cols)
    _, first = np.unique(keys[:, 0], return_index=True)     # one row per key
    table = table.take(pa.array(np.sort(first)))
    _write_table(path, table)


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    import pyarrow as pa
    _write_table(path, pa.Table.from_pandas(frame, preserve_index=False))


def _write_table(path: Path, table) -> None:
    import pyarrow.parquet as pq
    meta = dict(table.schema.metadata or {})
    meta[b"eventstudy"] = json.dumps({"format": FORMAT, "code": code_digest()}).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        # pyarrow's default (snappy): zstd saved ~5% of these bytes (floats) for ~1.5 ms a
        # file, a third of the time of writing it
        pq.write_table(table, tmp)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
