"""Worker processes for CPU-bound work (reading photos), started with "spawn" and gone when their parent is; and
the CPUs a process may use, which every default thread and worker count takes."""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy  # noqa: F401  (loaded before the worker's BLAS limit is set, which reaches only loaded libraries)
from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")


CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """The CPUs this process may use: those it may run on, capped by its container's CPU quota.

    Every thread and worker count defaults to this, not to os.cpu_count(): in a container limited to 2 of a
    host's 64 CPUs (Docker's --cpus or --cpuset-cpus, a Kubernetes CPU limit) the host's count starts 64 threads
    that fight over 2, and ONNX Runtime ran 2–3× slower with 2 threads pinned to 1 CPU than with 1.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota is not None else cpus


def cgroup_cpu_quota(proc_cgroup: str | None = None, root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota (in CPUs) of this process's cgroup and its ancestors, cgroup v2 or v1; None when unlimited."""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:  # not on Linux
            return None
    quotas = []
    for line in proc_cgroup.splitlines():
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            quotas += [_v2_quota(folder) for folder in _up_from(root, path)]
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's hierarchy, mounted under its name
            mount = next((m for m in (root / "cpu", root / controllers) if m.is_dir()), None)
            quotas += [_v1_quota(folder) for folder in _up_from(mount, path)] if mount else []
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def _up_from(mount: Path, path: str) -> list[Path]:
    """The folders of cgroup `path` and its ancestors under `mount` (in a cgroup namespace, the mount itself)."""
    parts = [p for p in path.split("/") if p]
    return [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> float | None:
    """cpu.max ("QUOTA PERIOD" or "max PERIOD") as CPUs."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    """cpu.cfs_quota_us / cpu.cfs_period_us as CPUs (a quota of -1: unlimited)."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


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
