"""The C allocator's thresholds for a long-running server: big blocks go back to the system when freed.

glibc raises its mmap threshold to the size of every large block freed (up to 32 MiB) and keeps up to twice that
free in its heaps without trimming. A server whose arrays grow with the catalogue (the duplicate check's views,
the vector index) keeps raising it, so RSS grows by freed memory it never hands back. Setting the thresholds
fixes them: blocks above `mmap_kib` are mapped and unmapped on their own, and the heaps are trimmed past twice it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _libc() -> ctypes.CDLL | None:
    """glibc, or None where the C library is another (musl, macOS) or lacks mallopt."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def pin_thresholds(mmap_kib: int) -> bool:
    """Fix glibc's mmap threshold at mmap_kib and its trim threshold at twice it; False where not glibc or 0."""
    libc = _libc()
    if mmap_kib <= 0 or libc is None:
        return False
    size = mmap_kib * 1024
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, size)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * size))
    if not ok:
        log.warning("mallopt refused the thresholds", extra={"mmap_kib": mmap_kib})
    return ok


def heap_free_bytes() -> int | None:
    """Bytes free inside glibc's heaps, kept by the process rather than returned (None where not glibc)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().fordblks)
