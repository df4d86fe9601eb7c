"""Helpers shared by the benchmark scripts: machine description, JSON output, mean ± std."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    """CPU model and precision-relevant flags, cores, memory and library versions of this machine."""
    import numpy
    import torch

    from shoplens.inference.cpu import inference_flags
    from shoplens.processes import usable_cpus

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    with contextlib.suppress(ValueError, OSError):
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cpus": usable_cpus(),  # what this process may run on: affinity, capped by a cgroup CPU quota
        "cpu_flags": inference_flags(),  # what decides the precisions that pay (AVX-512, VNNI, bf16, AMX)
        "memory_gib": mem,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15_min": [round(v, 2) for v in os.getloadavg()],  # others' work on a shared machine
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def mean_std(values: list[float]) -> dict:
    """{'mean', 'std', 'n'} of a list of numbers."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def write_results(name: str, payload: dict) -> Path:
    """Write bench/results/<name>.json (pretty) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
