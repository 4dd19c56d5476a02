"""Results of earlier runs, keyed by a hash of everything they were computed from.

Why: an analyst adds one event and reruns; every other (event, series, model) has the same
prices, windows and code, so its ARs, CARs and tests are taken from the memo instead of being
fitted again. A key covers the pair's rows of returns and regressors, its day 0, the
positions kept out of its estimation window, the study parameters and the source of the
modules that compute it, so any change to those is a miss. The memo is a cache: a missing,
stale or unreadable file just means everything is computed.
"""
from __future__ import annotations

import hashlib
import pickle
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.atomic import atomic_path

MEMO_FILE = "study-memo.pkl"


class MemoWarning(RuntimeWarning):
    """The memo file could not be read; everything is computed afresh."""
_MODULES = ("study.py", "models.py", "inference.py", "returns.py", "calendars.py")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The computing modules' source and the numeric libraries' versions."""
    from importlib.metadata import version
    h = hashlib.sha256()
    root = resources.files("eventstudy")
    for name in _MODULES:
        h.update(root.joinpath(name).read_bytes())
    h.update(repr([version(p) for p in ("pandas", "numpy", "scipy", "statsmodels", "arch",
                                        "exchange_calendars")]).encode())
    return h.hexdigest()


def key(*parts) -> str:
    """A hash of numpy arrays, frames and plain values, in order."""
    h = hashlib.sha256(code_digest().encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.dtype).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, pd.DataFrame):
            h.update(repr(list(part.columns)).encode())
            h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


class Memo:
    """A dict of results on disk; `save` keeps only what this run used or computed."""

    def __init__(self, path: str | Path | None, *, fresh: bool = False):
        """`fresh`: compute everything (the old entries are not read) and save the new ones."""
        self.path = Path(path) if path is not None else None
        self._old = {} if fresh else self._load()
        self._new: dict = {}
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with open(self.path, "rb") as fh:
                data = pickle.load(fh)
            if isinstance(data, dict) and data.get("code") == code_digest():
                return data.get("entries", {})
        except Exception:  # an unreadable memo is no memo: everything is recomputed
            warnings.warn(f"ignoring unreadable study memo {self.path}", MemoWarning,
                          stacklevel=2)
        return {}

    def get(self, k: str, compute):
        """The stored value for key `k`, or `compute()` (stored for next time)."""
        if k in self._old:
            self.hits += 1
            value = self._old[k]
        else:
            self.misses += 1
            value = compute()
        self._new[k] = value
        return value

    def save(self) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            pickle.dump({"code": code_digest(), "entries": self._new}, fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
