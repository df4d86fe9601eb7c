"""Faults put to a running service (by the tests and by bench/soak.py): a database file that cannot be written,
an image store on a small disk that is full. Each undoes itself when its block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


class FaultUnavailableError(RuntimeError):
    """This machine cannot stage the fault (not root, no tmpfs, no chattr); a test skips with this reason."""


def _run(*cmd: str) -> None:
    """Run a system command; FaultUnavailableError with its message if it fails."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FaultUnavailableError(f"{cmd[0]}: {e}") from e
    if done.returncode != 0:
        raise FaultUnavailableError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file cannot be opened for writing: immutable for root (who ignores permissions), else mode 0444."""
    if os.geteuid() == 0:
        _run("chattr", "+i", str(path))
        try:
            yield
        finally:
            _run("chattr", "-i", str(path))
        return
    mode = path.stat().st_mode
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(mode)


@contextlib.contextmanager
def small_disk(folder: Path, size_kib: int = 256) -> Iterator[Path]:
    """A tmpfs of size_kib mounted on the (empty or new) folder for the block (root only); yields the folder."""
    if os.geteuid() != 0:
        raise FaultUnavailableError("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _run("umount", "--lazy", str(folder))


@contextlib.contextmanager
def disk_full(folder: Path, most: int = 64 * 2**20) -> Iterator[None]:
    """The (small) file system of the folder is full for the block: a filler file takes every free byte."""
    if shutil.disk_usage(folder).free > most:
        raise FaultUnavailableError(f"{folder} has more than {most:,} bytes free: not filling it")
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 512):  # bounded by the disk's size, checked above
            with contextlib.suppress(OSError):
                while fh.write(b"\0" * size):
                    pass
    try:
        yield
    finally:
        filler.unlink(missing_ok=True)
