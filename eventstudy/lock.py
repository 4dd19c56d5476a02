"""One run at a time per output or cache folder: an advisory lock file inside the folder.

Two runs writing the same folder would leave the pages of one beside the CSVs of the other.
The lock is `fcntl.flock` on `<folder>/.eventstudy.lock`: the kernel drops it when the process
dies, so a killed run never leaves a stale lock. Where locks are unavailable (a read-only
folder, a platform without fcntl) nothing is locked: nothing can be written there either.
"""
from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

LOCK_FILE = ".eventstudy.lock"


@contextmanager
def folder_lock(folder: str | os.PathLike, on_wait=None):
    """Hold the folder's lock for the block; if another run holds it, call `on_wait(folder)`
    once and wait for it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield                  # read-only: nothing will be written there by us either
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)           # closing releases the lock


@contextmanager
def folder_locks(folders, on_wait=None):
    """Lock several folders, always in the same (sorted) order so two runs cannot deadlock."""
    unique = sorted({str(Path(f).resolve()) for f in folders if f is not None})
    with ExitStack() as stack:
        for folder in unique:
            stack.enter_context(folder_lock(folder, on_wait))
        yield
