"""Worker processes: results in order from other processes, one BLAS thread each; CPUs as a container allows."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from threadpoolctl import threadpool_info

from shoplens.processes import can_start_workers, cgroup_cpu_quota, map_in_workers, usable_cpus


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


def _write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / ("cpu.max" if " " in text else "cpu.cfs_quota_us")).write_text(text)


def test_a_cgroup_v2_quota_caps_the_cpus(tmp_path: Path) -> None:
    _write(tmp_path / "kubepods" / "pod1", "250000 100000")  # 2.5 CPUs
    _write(tmp_path / "kubepods", "max 100000")
    assert cgroup_cpu_quota("0::/kubepods/pod1\n", tmp_path) == 2.5
    _write(tmp_path / "kubepods", "150000 100000")  # a parent's lower limit binds its children too
    assert cgroup_cpu_quota("0::/kubepods/pod1\n", tmp_path) == 1.5
    _write(tmp_path / "kubepods" / "pod1", "max 100000")
    _write(tmp_path / "kubepods", "max 100000")
    assert cgroup_cpu_quota("0::/kubepods/pod1\n", tmp_path) is None


def test_a_cgroup_v1_quota_caps_the_cpus(tmp_path: Path) -> None:
    folder = tmp_path / "cpu,cpuacct"
    _write(folder, "300000")
    (folder / "cpu.cfs_period_us").write_text("100000")
    # a container without its own cgroup namespace sees its path, but its own cgroup mounted at the top
    text = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroup_cpu_quota(text, tmp_path) == 3.0
    _write(folder, "-1")
    assert cgroup_cpu_quota(text, tmp_path) is None
    # cpuacct alone is not the cpu controller; a line without two colons is skipped
    assert cgroup_cpu_quota("2:cpuacct:/\nnot a line\n", tmp_path) is None


def _cpus_on_one_cpu(_: int) -> int:
    """usable_cpus() once this process may run on one CPU only."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return usable_cpus()


def test_usable_cpus_follow_the_affinity() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_cpus_on_one_cpu, (0,)) == 1
