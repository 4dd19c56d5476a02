"""Atomic file writes: a reader sees the old file or the new one, never half of either.

A written file gets the mode a plain `open(path, "w")` would give it: an existing file keeps
its mode, a new one follows the umask (reports must be servable and shareable; mkstemp alone
would make every file 0600). A symlink is written through to its target, so the real file gets
the change and the link stays a link. Temporary files are named `.<name>.<random>.tmp` beside
their target; `clean_temporaries` removes those a killed run left behind.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")   # mkstemp's random part is 8 chars
_state = threading.local()          # .pending: [(tmp, target)] while a `batch` is open


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def target_of(path: str | os.PathLike) -> Path:
    """The file a write to `path` must replace: a symlink's (final) target, else `path`."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def mode_for(path: Path) -> int:
    """The permission bits the new file gets: those of the file it replaces, else 0666 - umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    On any exception the temporary file is removed and `path` is left as it was.
    """
    path = target_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, mode)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        pending = getattr(_state, "pending", None)
        if pending is not None:             # a batch: renamed with the others at its end
            pending.append((tmp, path))
            return
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc   # name the file
        raise


class batch:
    """Make every atomic write in the block visible together: at `commit()` or the block's end.

    Each write goes to its temporary file as usual; only at commit are they all renamed over
    their targets (renames need no space). A full disk, a crash or Ctrl-C while the files are
    written leaves every target as it was, and no temporary file. (A kill in the short rename
    phase can still leave some renamed: the report's manifest hashes and the run record catch
    that.) A batch opened inside another joins it.
    """

    def __enter__(self):
        self.outer = getattr(_state, "pending", None) is not None
        if not self.outer:
            _state.pending = []
        return self

    def commit(self) -> None:
        """Rename everything written so far into place (later writes are direct)."""
        if self.outer or getattr(_state, "pending", None) is None:
            return
        pending, _state.pending = _state.pending, None
        done = 0
        try:
            for tmp, target in pending:
                os.replace(tmp, target)
                done += 1
        finally:
            for tmp, _ in pending[done:]:
                tmp.unlink(missing_ok=True)
        for folder in {target.parent for _, target in pending}:
            _fsync_dir(folder)

    def __exit__(self, kind, exc, tb):
        if self.outer:
            return False
        if kind is None:
            self.commit()
        else:
            for tmp, _ in getattr(_state, "pending", None) or []:
                tmp.unlink(missing_ok=True)
            _state.pending = None
        return False


@contextmanager
def outside_batch():
    """Write directly inside the block even if a `batch` is open: for files read back at once
    that belong to no report (a study's own Parquet dataset, written when first read, may be
    first read while the report's batch is open; staged, its files would not exist yet)."""
    pending = getattr(_state, "pending", None)
    _state.pending = None
    try:
        yield
    finally:
        _state.pending = pending


def write_bytes(path: str | os.PathLike, data: bytes) -> bool:
    """Write `data` atomically unless the file already holds exactly it; True if written.

    Skipping identical writes keeps mtimes (and backups, rsync, `make`) quiet on a rerun.
    """
    target = target_of(path)
    if same_bytes(target, data):
        return False
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return True


def write_text(path: str | os.PathLike, text: str) -> bool:
    return write_bytes(path, text.encode("utf-8"))


def same_bytes(path: Path, data: bytes) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def temporaries(folder: str | os.PathLike) -> list[Path]:
    """Our temporary files under `folder` (by name): a write in progress, or a killed one's."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [path for path in folder.rglob(f"{TMP_PREFIX}*{TMP_SUFFIX}")
            if _TMP_NAME.match(path.name) and path.is_file() and not path.is_symlink()]


def clean_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a killed write left under `folder` (ours only, by name).

    Call it only while holding the folder's lock (eventstudy.lock), when no write is running.
    """
    removed = []
    for path in temporaries(folder):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
