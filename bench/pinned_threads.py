"""Time ONNX Runtime inference in a process pinned to fewer CPUs than the machine has, with the thread count the
runtimes used to default to (os.cpu_count(): the machine's) against the one they default to now (usable_cpus():
the CPUs this process may use, a container's CPU quota included), paired in one run.

    .venv/bin/python bench/pinned_threads.py              # pinned to half the CPUs (at least one), 3 rounds
    .venv/bin/python bench/pinned_threads.py --cpus 1 --rounds 5

What a server in a container limited to part of a larger machine (Docker's --cpuset-cpus, Kubernetes' static CPU
manager) meets: each measurement runs in a spawned process pinned with sched_setaffinity, on the newest valid bundle
under var/models/fashion-mnist (or a freshly initialised shopnet), batch 1 and batch 32, alternating the two thread
counts. Writes bench/results/pinned_threads.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results
from servers import prepare_models

BATCHES = (1, 32)


def throughput(model: str, cpus: set[int], threads: int, batch: int, seconds: float) -> float:
    """Images per second of model.onnx on `threads` intra-op threads, in this process pinned to `cpus`."""
    import numpy as np
    import onnxruntime as ort

    from shoplens.inference.onnx_session import session_options

    os.sched_setaffinity(0, cpus)
    session = ort.InferenceSession(model, session_options(threads), providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    shape = [batch] + [d if isinstance(d, int) else 1 for d in spec.shape[1:]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(5):
        session.run(None, {spec.name: x})
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        session.run(None, {spec.name: x})
        n += 1
    return n * batch / (time.perf_counter() - start)


def main() -> None:
    """Pin, time both thread counts alternately, write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cpus", type=int, help="CPUs to pin to (default: half of this process's, at least 1)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()
    mine = sorted(os.sched_getaffinity(0))
    cpus = set(mine[: args.cpus or max(1, len(mine) // 2)])
    machine = os.cpu_count() or 1
    if len(cpus) >= machine:
        sys.exit(f"nothing to compare: pinning to {len(cpus)} of {machine} CPUs leaves none out")
    with tempfile.TemporaryDirectory() as tmp:
        root, source = prepare_models(Path(tmp), export=True)
        model = str(next(root.rglob("model.onnx")))
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            inside = pool.apply(usable_cpus_pinned, (cpus,))
        counts = {"cpu_count": machine, "usable_cpus": inside}
        runs: dict[str, dict[int, list[float]]] = {way: {b: [] for b in BATCHES} for way in counts}
        for _ in range(args.rounds):
            for batch in BATCHES:
                for way, threads in counts.items():
                    with spawn.Pool(1, maxtasksperchild=1) as pool:  # a fresh process: one thread pool each
                        runs[way][batch].append(
                            pool.apply(throughput, (model, cpus, threads, batch, args.seconds))
                        )
    median = {way: {b: statistics.median(r) for b, r in by.items()} for way, by in runs.items()}
    results = {
        "machine": machine_info(),
        "bundle": source,
        "pinned_cpus": len(cpus),
        "threads": counts,
        "images_per_s": {
            way: {f"batch_{b}": [round(x) for x in r] for b, r in by.items()} for way, by in runs.items()
        },
        "median_images_per_s": {
            way: {f"batch_{b}": round(x) for b, x in by.items()} for way, by in median.items()
        },
        "speedup_usable_over_cpu_count": {
            f"batch_{b}": round(median["usable_cpus"][b] / median["cpu_count"][b], 2) for b in BATCHES
        },
        "command": "python bench/pinned_threads.py " + " ".join(sys.argv[1:]),
    }
    print({k: v for k, v in results.items() if k != "machine"})
    write_results("pinned_threads", results)
    if inside != len(cpus):
        sys.exit(f"usable_cpus() said {inside} in a process pinned to {len(cpus)} CPUs")


def usable_cpus_pinned(cpus: set[int]) -> int:
    """usable_cpus() in this process once pinned to `cpus`."""
    from shoplens.processes import usable_cpus

    os.sched_setaffinity(0, cpus)
    return usable_cpus()


if __name__ == "__main__":
    main()
