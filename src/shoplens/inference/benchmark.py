"""Inference benchmark building blocks: multiply-adds per image, the CPU's peak, and one timed configuration."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shoplens.inference.session import InferenceSession
from shoplens.inference.timing import time_calls
from shoplens.processes import usable_cpus

AVX2_FMA_MACS_PER_CYCLE = 16  # 2 FMA units × 8 fp32 lanes (AVX2); AVX-512 parts can do more


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of one image's forward pass through every Conv2d and Linear (forward hooks)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Linear, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out[0].numel() * m.in_features

    handles = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return total


def cpu_clock_ghz() -> float | None:
    """The CPU clock from /proc/cpuinfo (or lscpu's max), in GHz; None when neither says."""
    try:
        mhz = [
            float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text(), re.M)
        ]
        if mhz:
            return max(mhz) / 1e3
    except OSError:
        pass
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"CPU max MHz:\s*([\d.]+)", text)
    return float(found.group(1)) / 1e3 if found else None


def theoretical_peak(cores: int | None = None, ghz: float | None = None) -> dict[str, Any]:
    """Estimated FP32 peak: cores × clock × 16 MAC/cycle (AVX2 FMA); an estimate, turbo and SMT ignored."""
    cores = cores or usable_cpus()
    ghz = ghz if ghz is not None else cpu_clock_ghz()
    return {
        "cores": cores,
        "clock_ghz": round(ghz, 3) if ghz else None,
        "macs_per_cycle_per_core": AVX2_FMA_MACS_PER_CYCLE,
        "gmac_per_second": round(cores * ghz * AVX2_FMA_MACS_PER_CYCLE, 1) if ghz else None,
        "note": "estimate: cores × clock (/proc/cpuinfo) × 16 fp32 MAC/cycle (2 AVX2 FMA units × 8 lanes)",
    }


def sgemm_peak(n: int = 2048, seconds: float = 2.0) -> dict[str, Any]:
    """Measured FP32 matrix-multiply rate: repeated n×n torch.mm on all torch threads, best rep."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, start, reps = float("inf"), time.perf_counter(), 0
    while time.perf_counter() - start < seconds or reps < 3:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best, reps = min(best, time.perf_counter() - t0), reps + 1
    gmacs = round(n**3 / best / 1e9, 1)
    return {"n": n, "repetitions": reps, "threads": torch.get_num_threads(), "gmac_per_second": gmacs}


def time_session(
    session: InferenceSession, input_shape: tuple[int, int, int], batch: int, mmac: float, **timing: Any
) -> dict[str, Any]:
    """One timed configuration of a session on random normalised input: latency, throughput and GMAC/s."""
    x = np.random.default_rng(0).standard_normal((batch, *input_shape)).astype(np.float32)
    result = time_calls(lambda: session.run(x), batch, **timing)
    return {
        "runtime": session.runtime,
        "batch": batch,
        **result,
        "mmac_per_image": round(mmac, 3),
        "gmac_per_second": round(result["images_per_second"] * mmac / 1e3, 2),
    }
