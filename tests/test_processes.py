"""Worker processes: results in order from other processes, one BLAS thread each, here when one would do."""

from __future__ import annotations

import multiprocessing
import os

from threadpoolctl import threadpool_info

from shoplens.processes import can_start_workers, map_in_workers, usable_cpus


def _where(item: int) -> tuple[int, int]:
    """The item squared, and the process that computed it."""
    return item * item, os.getpid()


def _blas_threads(_: int) -> list[int]:
    """The thread count of every BLAS library loaded in this process."""
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_items_are_mapped_in_order_by_other_processes() -> None:
    out = map_in_workers(_where, range(40), workers=2, chunksize=4)
    assert [square for square, _ in out] == [i * i for i in range(40)]
    assert os.getpid() not in {pid for _, pid in out}  # however the pool shared the chunks among its workers


def test_each_worker_runs_one_blas_thread() -> None:
    counts = map_in_workers(_blas_threads, range(4), workers=2, chunksize=1)
    assert all(c == [1] for c in counts), counts  # numpy's OpenBLAS, loaded and limited


def test_one_chunk_or_one_worker_stays_in_this_process() -> None:
    assert map_in_workers(_where, range(3), workers=4, chunksize=16) == [
        (i * i, os.getpid()) for i in range(3)
    ]
    assert map_in_workers(_where, range(40), workers=1) == [(i * i, os.getpid()) for i in range(40)]
    assert map_in_workers(_where, [], workers=2) == []


def test_a_daemonic_process_may_not_start_workers() -> None:
    assert can_start_workers() and usable_cpus() >= 1
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # a pool's workers are daemonic
        assert pool.apply(can_start_workers) is False
