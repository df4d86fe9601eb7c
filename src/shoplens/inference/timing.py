"""Latency and throughput of a repeated call; standard library only, so any runtime's interpreter can load it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_calls(
    fn: Callable[[], object],
    batch: int,
    *,
    warmup: int = 3,
    min_reps: int = 20,
    min_seconds: float = 2.0,
    max_seconds: float = 20.0,
) -> dict[str, float]:
    """Warm up, then call `fn` until both min_reps and min_seconds are reached (or max_seconds, ≥ 3 calls) have passed.

    Returns repetitions, p50/p95 latency in ms and images per second at the p50 latency for `batch` images a call.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        now = time.perf_counter()
        times.append(now - t0)
        elapsed = now - start
        if (len(times) >= min_reps and elapsed >= min_seconds) or (
            elapsed >= max_seconds and len(times) >= 3
        ):
            break
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
    return {
        "repetitions": len(times),
        "latency_ms_p50": round(1e3 * p50, 4),
        "latency_ms_p95": round(1e3 * p95, 4),
        "images_per_second": round(batch / p50, 1),
    }
