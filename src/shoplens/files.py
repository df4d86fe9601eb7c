"""Small file-system helpers shared by every writer: atomic replacement and an advisory lock between processes."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    """This process's umask (read once, at import, by setting it and putting it back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _umask()
NEW_FILE_MODE = 0o666 & ~_UMASK  # the permissions open() gives a new file
NEW_DIR_MODE = 0o777 & ~_UMASK  # ... and mkdir a new folder


def write_atomic(
    path: str | os.PathLike,
    data: bytes | Callable[[BinaryIO], None],
    *,
    fsync: bool = False,
    mode: int | None = None,
) -> int:
    """Replace `path` in one step: write a uniquely named temp file beside it (bytes, or a writer function), then
    rename it over `path`.

    A reader sees the old file or the new one, never half of one, and concurrent writers never share a temp
    file; a crash leaves at most a stray `.<name>.*.tmp` beside it. `mode` sets the file's permissions (default:
    what open() would give it); the file never exists with wider ones. Returns the size written.
    """
    path = Path(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except FileNotFoundError:  # the folder does not exist yet
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), NEW_FILE_MODE if mode is None else mode)  # mkstemp makes it 0600
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            size = fh.tell()
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return size


@contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), held for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tree_entries(root: str | os.PathLike) -> Iterator[Path]:
    """Every entry under root that is not a folder (files, dangling links, FIFOs), sorted by path; links to
    folders are followed, each real folder entered once (a link back up the tree ends there)."""
    root = Path(root)
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path) -> Iterator[Path]:
        try:
            st = folder.stat()
            children = sorted(folder.iterdir())
        except OSError:  # unreadable, or vanished: nothing under it
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        for child in children:
            if child.is_dir():
                yield from walk(child)
            else:
                yield child

    yield from walk(root)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def csv_header(path: str | os.PathLike) -> list[str]:
    """The column names a CSV file's first row gives ([] when it has none or cannot be read as UTF-8 CSV)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
