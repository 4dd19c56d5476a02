"""'Nothing changed': a fingerprint of every input of a run, kept beside its outputs.

A rerun whose inputs are byte-for-byte those of the last complete run, and whose outputs are
still exactly what that run wrote, has nothing to do: the CLI says so and stops, without
importing the numeric stack (the whole rerun takes a fraction of a second).

The fingerprint covers: the events file's bytes, the config's bytes (or the built-in
config's), every file of the installed package (code, templates, bundled sample), the
versions of the libraries that compute or render, every file in the price cache folder and
every local price CSV the config names (size, mtime and content hash), the options and the
UTC date (what is "waiting for data" depends on it). Online runs are never short-cut: the
vendor may have new prices that no local file shows yet.

The record (RECORD in the output folder) also lists every file under the output folder with
its size and SHA-256. It is deleted before a run writes anything and written only after the
run completed, so an interrupted or failed run leaves no record, and the next run rebuilds.
This module imports only the standard library: checking must be cheap.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import time
import tomllib
from pathlib import Path

RECORD = ".eventstudy-run.json"
VERSION = 1
_SKIP = {RECORD, ".eventstudy.lock"}
_LIBRARIES = ("pandas", "numpy", "scipy", "statsmodels", "exchange_calendars",
              "pyarrow", "plotly", "jinja2")


_HASHED: dict[tuple, str] = {}     # this process's hashes, by file identity and state


def file_hash(path: Path, st: os.stat_result | None = None) -> str:
    """SHA-256 of the file. A run fingerprints its inputs two or three times (before the
    lock, under it, after): a file whose inode, size, mtime and ctime (any write changes
    the ctime) are those of an earlier hashing in this process is not read again, unless
    it changed in the last seconds (timestamps are coarser than a quick second write)."""
    st = os.stat(path) if st is None else st
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _HASHED:
        return _HASHED[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > 2_000_000_000:
        _HASHED[key] = h.hexdigest()
    return h.hexdigest()


def tree(folder: Path, *, skip=_SKIP) -> dict[str, list]:
    """Every regular file under `folder`: relative path -> [size, sha256]."""
    out = {}
    if not folder.is_dir():
        return out
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name in skip or name.endswith((".pyc", ".tmp")):
                continue
            path = Path(root, name)
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            out[path.relative_to(folder).as_posix()] = [st.st_size, file_hash(path, st)]
    return out


def _versions() -> list[str]:
    return library_versions(_LIBRARIES)


def library_versions(libraries: tuple[str, ...]) -> list[str]:
    """name==version of each library, from the names of the *.dist-info folders on sys.path
    (one listing of each folder; importlib.metadata.version reads and parses every METADATA
    it meets, ~30 ms for these nine), and importlib.metadata for any not found that way."""
    import re
    import sys
    wanted = {re.sub(r"[-_.]+", "_", n).lower(): n for n in libraries}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            m = re.fullmatch(r"(.+?)-([^-]+)\.dist-info", name)
            key = m and re.sub(r"[-_.]+", "_", m.group(1)).lower()
            if key in wanted and wanted[key] not in found:
                found[wanted[key]] = m.group(2)
    out = []
    for name in libraries:
        if name not in found:
            from importlib.metadata import PackageNotFoundError, version
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                found[name] = "?"
        out.append(f"{name}=={found[name]}")
    return out


def _config_csv_paths(config_text: str | None, config_path: Path | None) -> list[Path]:
    """Local price files a config names (source = "csv"), wherever the loader may look."""
    if not config_text:
        return []
    try:
        raw = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError:
        return []
    out = []
    for body in (raw.get("series") or {}).values():
        if isinstance(body, dict) and isinstance(body.get("path"), str):
            path = Path(body["path"])
            out.append(path)
            if config_path is not None and not path.is_absolute():
                out.append(config_path.parent / path)
    return out


def fingerprint(*, events_path: Path, config_path: Path | None, cache_dir: Path,
                options: dict) -> dict:
    """Everything the outputs of an offline run are made from (`digest` makes it one key)."""
    import eventstudy
    package = Path(eventstudy.__file__).resolve().parent
    if config_path is None:
        config_bytes = (package / "default_config.toml").read_bytes()
    else:
        config_bytes = config_path.read_bytes()
    parts = {
        "version": eventstudy.__version__,
        "events": hashlib.sha256(events_path.read_bytes()).hexdigest(),
        "config": hashlib.sha256(config_bytes).hexdigest(),
        "config_path": str(config_path),
        "package": tree(package),
        "libraries": _versions(),
        "cache_dir": str(cache_dir.resolve()),
        "cache": tree(cache_dir),
        "csv": {str(p): (p.stat().st_size, p.stat().st_mtime_ns, file_hash(p))
                for p in _config_csv_paths(config_bytes.decode("utf-8", "replace"),
                                           config_path) if p.is_file()},
        "options": options,
        "date": dt.datetime.now(dt.timezone.utc).date().isoformat(),
    }
    return parts


def digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def same_inputs(before: dict, after: dict) -> bool:
    """The inputs did not change during a run (the cache may: the run itself writes there,
    under its lock)."""
    return {k: v for k, v in before.items() if k != "cache"} == \
        {k: v for k, v in after.items() if k != "cache"}


def up_to_date(out_dir: Path, key: str) -> dict | None:
    """The record of the last complete run if it had this fingerprint and its outputs are
    untouched, else None."""
    try:
        record = json.loads((out_dir / RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != VERSION:
        return None
    if record.get("fingerprint") != key or not record.get("files"):
        return None
    return record if tree(out_dir) == record["files"] else None


def invalidate(out_dir: Path) -> None:
    """Forget the last run: from now until `write`, the folder is not known to be current."""
    (out_dir / RECORD).unlink(missing_ok=True)


def write(out_dir: Path, key: str, messages: list[str] = ()) -> None:
    """Record a complete run: its fingerprint, the lines it printed, and its outputs."""
    from eventstudy import atomic
    text = json.dumps({"version": VERSION, "fingerprint": key, "messages": list(messages),
                       "files": tree(out_dir)}, indent=1, sort_keys=True)
    atomic.write_text(out_dir / RECORD, text + "\n")
