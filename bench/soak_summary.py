"""The soak benchmark's summaries of what its clients saw: rates, refusals, latencies, RSS growth, the timeline.

Pure functions of the run's record and RSS samples (bench/soak.py collects them, bench/soak_chart.py draws the
timeline).
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

import numpy as np
from soak_traffic import Answer, Record


def rps(record: Record, start: float, end: float) -> float:
    """Answers per second (any status) in [start, end)."""
    return len(record.between(start, end)) / max(end - start, 1e-9)


def refused_by_route(answers: list[Answer]) -> dict[str, dict[str, int]]:
    """Per route, the non-2xx statuses it answered (what a fault stopped, and how)."""
    out: dict[str, dict[str, int]] = {}
    for a in answers:
        if not 200 <= a.status < 300:
            route = out.setdefault(a.route, {})
            route[str(a.status)] = route.get(str(a.status), 0) + 1
    return {r: dict(sorted(c.items())) for r, c in sorted(out.items())}


def counts_int(values: list[int]) -> dict[str, int]:
    """Counts of integer values, keyed as strings, in key order."""
    return dict(sorted(Counter(str(v) for v in values).items()))


def route_latencies(record: Record, start: float, end: float) -> dict[str, dict]:
    """p50/p95/p99 (ms) and count per route over the answers in [start, end)."""
    by: dict[str, list[float]] = {}
    for a in record.between(start, end):
        by.setdefault(a.route, []).append(a.ms)
    return {
        route: {
            "requests": len(ms),
            **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)},
        }
        for route, ms in sorted(by.items())
    }


def rss_growth(samples: list[dict], start: float, end: float) -> dict:
    """RSS after warm-up (a quarter of the hold, at most 60 s) vs at its end: medians of the first and last 10%."""
    warm = start + min(60.0, (end - start) / 4)
    window = max(5.0, (end - start) / 10)
    base = [s["rss_mib"] for s in samples if warm <= s["t"] < warm + window and s["rss_mib"]]
    last = [s["rss_mib"] for s in samples if end - window <= s["t"] < end and s["rss_mib"]]
    peak = max((s["rss_mib"] for s in samples if start <= s["t"] < end and s["rss_mib"]), default=None)
    b, e = statistics.median(base), statistics.median(last)
    return {
        "after_warmup_mib": round(b, 1),
        "end_mib": round(e, 1),
        "peak_mib": round(peak or 0, 1),
        "growth_pct": round(100 * (e - b) / b, 2),
    }


def timeline(samples: list[dict], t0: float, faults: list[dict]) -> dict:
    """Per-second requests/s and RSS from the start of the hold, and the fault windows, for the chart."""
    rows = [s for s in samples if s["t"] >= t0]
    return {
        "t_s": [round(s["t"] - t0, 1) for s in rows[1:]],
        "rps": [
            round((b["answers"] - a["answers"]) / (b["t"] - a["t"]), 1) for a, b in itertools.pairwise(rows)
        ],
        "rss_mib": [s["rss_mib"] and round(s["rss_mib"], 1) for s in rows[1:]],
        "faults": [
            {
                "name": f["name"],
                "start_s": round(f["window"][0] - t0, 1),
                "end_s": round(f["window"][1] - t0, 1),
            }
            for f in faults
            if "window" in f
        ],
    }
