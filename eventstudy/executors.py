"""Where the study's partitions run: in this process (default), a process pool, or Dask.

The engine codes against the `concurrent.futures` interface (`submit` -> a Future with
`result()`), so the three are one program: `InProcess` runs each call at once, a
`ProcessPoolExecutor` (`workers = N`) runs it in N child processes, and a Dask client's
`get_executor()` (`dask = "local"` for a LocalCluster, `scheduler = "tcp://host:8786"` for a
running scheduler) runs it on the cluster. Dask is imported only when asked for.

What a partition receives is plain: a `engine.Block` of numpy arrays and a `PartitionConfig`
of a few numbers; it reads no file, no memo and no random generator. Python's pickle carries
them between our own processes only (it never reads a file).
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from eventstudy.errors import InputError

LOCAL_DASK_WORKERS = 2
KERNEL_THREADS_MAX = 4      # in-process threads for the fused kernel's slabs, at most
BLAS_THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class EngineSettings:
    """The `[engine]` table of the config, or the CLI's --workers / --dask / --scheduler
    (at most one of the three; none: in-process)."""
    workers: int | None = None
    dask: str | None = None          # "local": a LocalCluster on this machine
    scheduler: str | None = None     # "tcp://host:port" of a running dask scheduler
    ar_in_memory_rows: int | None = None   # None: engine.AR_IN_MEMORY_ROWS

    @property
    def kind(self) -> str:
        if self.scheduler:
            return "dask-scheduler"
        if self.dask:
            return "dask-local"
        if self.workers and self.workers > 1:
            return "processes"
        return "in-process"

    def describe(self) -> str:
        return {"in-process": "in-process", "processes": f"{self.workers} worker processes",
                "dask-local": f"Dask LocalCluster ({LOCAL_DASK_WORKERS} workers)",
                "dask-scheduler": f"Dask scheduler {self.scheduler}"}[self.kind]


def check_settings(workers=None, dask=None, scheduler=None, *, file=None,
                   prefix: str = "engine.") -> EngineSettings:
    """Validate the three settings (from TOML or the CLI); a clear InputError otherwise."""
    given = [n for n, v in (("workers", workers), ("dask", dask), ("scheduler", scheduler))
             if v is not None]
    if len(given) > 1:
        raise InputError(f"{' and '.join(prefix + g for g in given)} are both given: choose "
                         "one (workers for a process pool, dask for a LocalCluster, scheduler "
                         "for a running Dask scheduler)", file=file,
                         field=prefix + given[1] if file else None)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= 1024):
        raise InputError(f"must be a whole number of worker processes from 1 to 1024, not "
                         f"{workers!r}", file=file, field=prefix + "workers")
    if dask is not None and dask != "local":
        raise InputError(f"must be \"local\" (a LocalCluster on this machine), not {dask!r}; "
                         "for a running scheduler give scheduler = \"tcp://host:port\"",
                         file=file, field=prefix + "dask")
    if scheduler is not None:
        ok = isinstance(scheduler, str) and "://" in scheduler and \
            scheduler.split("://", 1)[1].rpartition(":")[2].isdigit()
        if not ok:
            raise InputError(f"must be a scheduler address like \"tcp://10.0.0.5:8786\", not "
                             f"{scheduler!r}", file=file, field=prefix + "scheduler")
    return EngineSettings(workers=workers, dask=dask, scheduler=scheduler)


class InProcess:
    """The trivial executor: each call runs at once, here (the reference and the default)."""

    workers = 1

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:     # noqa: BLE001 - delivered by result(), as a pool does
            future.set_exception(exc)
        return future

    def map(self, fn, *iterables):
        return map(fn, *iterables)

    def shutdown(self, wait: bool = True, **_) -> None:
        pass


@contextmanager
def make_executor(settings: EngineSettings | None):
    """The executor the settings ask for (closed on exit); `workers` tells the engine how
    many partitions to cut."""
    kind = settings.kind if settings is not None else "in-process"
    if kind == "in-process":
        yield InProcess()
        return
    if kind == "processes":
        import multiprocessing
        # spawn: a fresh interpreter per worker (no forked threads or locks; the same on
        # every platform), so what a partition gets must be importable and picklable
        pool = cf.ProcessPoolExecutor(settings.workers,
                                      mp_context=multiprocessing.get_context("spawn"))
        pool.workers = settings.workers
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    try:
        import distributed
    except ImportError:
        raise InputError("Dask is not installed: pip install \"eventstudy[dask]\" (or use "
                         "--workers N for a process pool)", field="engine") from None
    if kind == "dask-local":
        import dask
        # Dask's nanny pins BLAS to one thread in each worker; ours keep the driver's BLAS
        # settings, as the in-process run and the process pool do: a different thread count
        # sums in a different order, and GARCH's optimiser then ends elsewhere
        environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ",
                                                     {}).items() if k not in BLAS_THREADS}
        environ.update({k: os.environ[k] for k in BLAS_THREADS if k in os.environ})
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = distributed.LocalCluster(n_workers=LOCAL_DASK_WORKERS,
                                               threads_per_worker=1, processes=True,
                                               dashboard_address=None)
        client = distributed.Client(cluster)
    else:
        cluster = None
        try:
            client = distributed.Client(settings.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {settings.scheduler}: "
                             f"{exc}") from None
    try:
        executor = client.get_executor(pure=False)
        n = len(client.scheduler_info().get("workers", {}))
        executor.workers = max(n, 1)
        yield executor
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def kernel_threads() -> int:
    """Threads to run the fused kernel's slabs on in an in-process study: the kernel releases
    the GIL (numba `nogil`) and the slabs are independent pure partitions, so the cores of
    this machine (up to `KERNEL_THREADS_MAX`) share them. `EVENTSTUDY_THREADS` overrides
    (1: one after another, as before). Results are gathered in block order: the same bits."""
    value = os.environ.get("EVENTSTUDY_THREADS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(KERNEL_THREADS_MAX, cores))


_KERNEL_POOLS: dict[int, cf.ThreadPoolExecutor] = {}   # by thread count, kept for the process
_KERNEL_POOLS_LOCK = threading.Lock()


def kernel_map(fn, items, threads: int | None = None) -> list:
    """``[fn(x) for x in items]``, in order, on a pool of ``threads`` (default
    `kernel_threads()`) threads kept for the process: the group tests' numba kernels (`nogil`)
    over fixed pieces of their work, dozens of calls per battery (a pool per call cost its
    start-up each time). The engine's battery threads share it; a task of it must not call
    `kernel_map` itself (it would wait on its own pool)."""
    items = list(items)
    threads = kernel_threads() if threads is None else threads
    if threads < 2 or len(items) < 2:
        return [fn(x) for x in items]
    with _KERNEL_POOLS_LOCK:
        if threads not in _KERNEL_POOLS:
            _KERNEL_POOLS[threads] = cf.ThreadPoolExecutor(
                threads, thread_name_prefix="eventstudy-kernel")
        pool = _KERNEL_POOLS[threads]
    return list(pool.map(fn, items))


_THREAD_LOCAL = threading.local()


def thread_buffer(name: str, size: int) -> np.ndarray:
    """A flat float64 buffer of this thread's, one per `name`, at least `size` long: scratch
    reused call after call (a kernel's slab, chunk or derived columns) instead of fresh
    memory each time; grown when too small. Its contents are whatever was left in it."""
    buffers = _THREAD_LOCAL.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or len(buf) < size:
        buf = buffers[name] = np.empty(size)
    return buf


def side_by_side(*calls, threads: bool = True) -> list:
    """The results of independent calls (`functools.partial`s or lambdas), in order: the
    first ones on threads of their own while this thread runs the last (numpy and arrow
    release the GIL in their loops and copies); `threads=False`: one after another here.
    Either way, the error raised is the first call's in order that failed, whatever finished
    first (so a bad input is reported the same with or without threads)."""
    if not threads or len(calls) < 2:
        return [call() for call in calls]
    with cf.ThreadPoolExecutor(len(calls) - 1, thread_name_prefix="eventstudy-side") as pool:
        jobs = [pool.submit(call) for call in calls[:-1]]
        try:
            last = calls[-1]()
        except BaseException:
            for job in jobs:
                job.result()         # an earlier call's error first
            raise
        return [job.result() for job in jobs] + [last]


def n_tasks(n_pairs: int, workers: int, cap: int) -> int:
    """Pairs per task: one task for one worker; otherwise about four tasks per worker (so a
    slow one does not hold the rest back), never more than `cap` pairs."""
    if workers <= 1:
        return cap
    return max(1, min(cap, math.ceil(n_pairs / (4 * workers))))


class Progress:
    """'studying 12,000/50,000 pair-models (7/20 partitions), ETA 0:41' on one stderr line.

    Drawn only when the stream is a terminal, not before `delay` seconds (a short study never
    shows it) and at most `rate` times a second; thread-safe (pool callbacks tick it)."""

    def __init__(self, total: int, *, enabled: bool = True, stream=None, delay: float = 1.0,
                 rate: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and _is_tty(self.stream)
        self.total, self.done, self.parts, self.parts_done = total, 0, 0, 0
        self.started = time.monotonic()
        self.delay, self.every = delay, 1.0 / rate
        self.last = 0.0
        self.drawn = False
        self.lock = threading.Lock()

    def add_part(self) -> None:
        with self.lock:
            self.parts += 1

    def advance(self, units: int, part: bool = True) -> None:
        with self.lock:
            self.done += units
            self.parts_done += part
            self._draw()

    def _draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if not final and (elapsed < self.delay or now - self.last < self.every):
            return
        self.last = now
        share = self.done / self.total if self.total else 1.0
        eta = elapsed * (1 - share) / share if share > 0 else float("nan")
        width = 24
        bar = "#" * int(width * share) + "-" * (width - int(width * share))
        text = (f"\rstudying [{bar}] {self.done:,}/{self.total:,} pair-models "
                f"({self.parts_done}/{self.parts} partitions), {elapsed:.0f} s, "
                f"ETA {_clock(eta)} ")
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        with self.lock:
            if self.drawn:
                self._draw(final=True)
                self.stream.write("\n")
                self.stream.flush()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
