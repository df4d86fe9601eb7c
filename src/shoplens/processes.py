"""Worker processes for CPU-bound work (reading photos): started with "spawn", gone when their parent is."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy  # noqa: F401  (loaded before the worker's BLAS limit is set, which reaches only loaded libraries)
from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_start_workers() -> bool:
    """Whether this process may start worker processes (a daemonic one, e.g. a pool's worker, may not)."""
    return not multiprocessing.current_process().daemon


@contextmanager
def spawn_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes, each of which exits as soon as this process is gone.

    "spawn", not "fork": a forked child of a process whose torch or OpenMP threads are running can deadlock.
    Code that starts one needs the `if __name__ == "__main__":` guard in the script it runs from.
    """
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=spawn, initializer=_start_worker, initargs=(os.getpid(),)
    ) as pool:
        yield pool


def _start_worker(parent: int) -> None:
    """A pool worker's set-up: leave with the parent, and one BLAS thread (the pool is the parallelism).

    numpy's OpenBLAS otherwise starts a thread per CPU in every worker, and on a photo's small matrices those threads
    only spin: reading 200 calibration photos took the same 6.6 s with one thread as with two, and 13.4 s of CPU
    instead of 6.6, so two workers on two cores ran no faster than one process.
    """
    leave_with_parent(parent)
    threadpool_limits(1, user_api="blas")


def leave_with_parent(parent: int, every: float = 1.0) -> None:
    """In a worker process: exit as soon as the process that started it is gone (killed with SIGKILL, say).

    A pool's workers hold both ends of their task queue, so the parent's death alone never wakes them.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="shoplens-parent-watch", daemon=True).start()


def map_in_workers(fn: Callable[[T], R], items: Iterable[T], workers: int, chunksize: int = 16) -> list[R]:
    """[fn(item) for item in items], in order, on up to `workers` spawned processes (here when one would do).

    `fn` must be picklable (a module-level function, or a partial of one).
    """
    items = list(items)
    workers = min(workers, -(-len(items) // chunksize))
    if workers <= 1 or not can_start_workers():
        return [fn(item) for item in items]
    with spawn_pool(workers) as pool:
        return list(pool.map(fn, items, chunksize=chunksize))
