"""What the CPU can do for inference, read from /proc/cpuinfo: vector widths, int8 dot products (VNNI), AMX."""

from __future__ import annotations

import functools
from pathlib import Path

# The flags that decide which precisions pay off: AVX2/AVX-512 widths, VNNI int8 dot products, bf16, AMX tiles.
INFERENCE_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """Every flag the first CPU in `cpuinfo` lists (empty where the file does not exist)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def inference_flags(flags: frozenset[str] | None = None) -> list[str]:
    """The flags of INFERENCE_FLAGS this CPU has, in that order."""
    have = cpu_flags() if flags is None else flags
    return [f for f in INFERENCE_FLAGS if f in have]


def has_vnni(flags: frozenset[str] | None = None) -> bool:
    """int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI)."""
    have = cpu_flags() if flags is None else flags
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & have)


def has_amx_bf16(flags: frozenset[str] | None = None) -> bool:
    """AMX tiles with bf16 matrix multiplies (Sapphire Rapids and later)."""
    have = cpu_flags() if flags is None else flags
    return "amx_bf16" in have


def has_bf16_dot(flags: frozenset[str] | None = None) -> bool:
    """bf16 dot products in hardware: AVX-512 BF16 (AMD Zen 4 and later, Intel Cooper Lake) or AMX."""
    have = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & have)
