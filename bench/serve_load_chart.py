"""The serving benchmark's chart: throughput over the ramp (with the naive peer's), latency at 1× and 2× saturation."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure


def plot(ramp: list[dict], levels: list[dict], peer: dict | None, path: Path) -> None:
    """Throughput over the ramp (and the peer's), latency percentiles at 1× / 2× saturation, batching on and off."""
    fig = Figure(figsize=(11, 4.2), dpi=120)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot([r["concurrency"] for r in ramp], [r["rps"] for r in ramp], "o-", label="batching on (ramp)")
    if peer:
        ax1.errorbar([peer["concurrency"]], [peer["rps"]], [peer["rps_std"]], fmt="s", label="naive peer")
        ax1.legend()
    ax1.set(
        xscale="log", xlabel="concurrent clients", ylabel="requests / s (200 only)", title="Throughput ramp"
    )
    ax1.grid(alpha=0.3)
    labels = [f"c={r['concurrency']}\n{'batch' if r['batching'] else 'no batch'}" for r in levels]
    x = np.arange(len(levels))
    for i, key in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        ax2.bar(x + (i - 1) * 0.27, [r[key] for r in levels], 0.27, label=key.removesuffix("_ms"))
    ax2.set(xticks=x, xticklabels=labels, ylabel="latency (ms)", title="Latency at 1× and 2× saturation")
    ax2.legend()
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
