"""Load-test `shoplens serve` on loopback: find the saturation throughput, then 1× and 2× of it, batching on/off,
the naive peer service (bench/naive_service.py) on the same bundle, and 1 vs 2 server workers, in the same run.

    .venv/bin/python bench/serve_load.py [--duration 6] [--repeats 3] [--no-export --name serve_load_torch]
    .venv/bin/python bench/serve_load.py --photo     # shop photos and the whole bundle → serve_load_photo.{json,png}

Starts a real uvicorn server (a subprocess, one worker) on 127.0.0.1 with a copy of the newest bundle under
var/models/fashion-mnist (or a freshly initialised shopnet bundle if there is none), and drives it with a
bounded asyncio + httpx closed-loop load generator (each client sends one 28×28 PNG per request, then the next).
With --photo each request is a shop photo instead (the photo benchmark's first, a JPEG of a few hundred pixels) and
the server gets the whole bundle, its not-a-product detector included: what serving a merchant's photos costs. The
peer is then left out: it reads no photo (it resizes the whole frame to 28×28), so its speed says nothing.
The peer — FastAPI + python-multipart + Pillow + ONNX Runtime on the same model.onnx, no safety at all — is
measured at the saturation concurrency, interleaved with ShopLens' levels (with --export only).
`workers`: `shoplens serve --workers 1` and `--workers 2` (batching on, default in-flight limit, the same inference
threads per worker) at 2× the saturation concurrency (at least 8 clients), repeats interleaved; --workers-only
measures just that pair and replaces the `workers` entry of the results file.
Writes bench/results/serve_load.json and .png (or NAME.json and .png with --name).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import numpy as np
from common import RESULTS, machine_info, write_results
from serve_load_chart import plot
from servers import (
    multipart_body,
    peer_command,
    prepare_models,
    running_server,
    sample_photo,
    sample_png,
    shoplens_command,
    wait_for_workers,
)

from shoplens.config import Settings

RAMP = (1, 2, 4, 8, 16, 32, 64, 128)
REQUEST_TIMEOUT_S = 10.0
MAX_REQUESTS_PER_LEVEL = 200_000


async def load_level(
    base: str, body: bytes, headers: dict[str, str], concurrency: int, duration: float
) -> dict:
    """`concurrency` closed-loop clients for `duration` seconds (and at most MAX_REQUESTS_PER_LEVEL requests)."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        stop = time.monotonic() + duration

        async def client_loop() -> None:
            while time.monotonic() < stop and sum(statuses.values()) < MAX_REQUESTS_PER_LEVEL:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/classify", content=body, headers=headers)
                    statuses[str(r.status_code)] += 1
                    if r.status_code == 200:
                        latencies.append((time.perf_counter() - t0) * 1000)
                except httpx.HTTPError as e:
                    statuses[type(e).__name__] += 1

        start = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(client_loop() for _ in range(concurrency))), duration + 2 * REQUEST_TIMEOUT_S
        )
        elapsed = time.monotonic() - start
    return {
        "concurrency": concurrency,
        "rps": len(latencies) / elapsed,
        "latencies_ms": latencies,
        "statuses": statuses,
    }


def summarise(runs: list[dict], **extra) -> dict:
    """One JSON row from repeated runs of a level: rps mean ± std, percentiles over all latencies, status counts."""
    ms = (
        np.concatenate([r["latencies_ms"] for r in runs])
        if any(r["latencies_ms"] for r in runs)
        else np.array([np.nan])
    )
    rps = [r["rps"] for r in runs]
    statuses = sum((r["statuses"] for r in runs), Counter())
    return {
        "concurrency": runs[0]["concurrency"],
        **extra,
        "rps": round(statistics.fmean(rps), 1),
        "rps_std": round(statistics.stdev(rps), 1) if len(rps) > 1 else 0.0,
        "runs": len(runs),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "status_counts": dict(sorted(statuses.items())),
    }


def measure(
    base: str, body: bytes, headers: dict[str, str], concurrency: int, duration: float, **extra
) -> dict:
    """One run of a load level, printed; the raw run (latencies included) is returned."""
    run = asyncio.run(load_level(base, body, headers, concurrency, duration))
    row = summarise([run], **extra)
    print(
        f"  c={concurrency:3d} {extra}: {row['rps']:7.1f} req/s  p50 {row['p50_ms']:6.2f} ms  "
        f"p99 {row['p99_ms']:7.2f} ms  {row['status_counts']}",
        flush=True,
    )
    return run


def find_saturation(ramp: list[dict]) -> dict:
    """The lowest concurrency whose throughput is within 10% of the best seen."""
    best = max(r["rps"] for r in ramp)
    return next(r for r in ramp if r["rps"] >= 0.9 * best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0, help="Seconds per measured run.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Runs per level (batching on/off and the peer interleaved)."
    )
    parser.add_argument("--ramp-duration", type=float, default=4.0, help="Seconds per ramp step.")
    parser.add_argument("--max-concurrency", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="Inference threads in the server (and the peer)."
    )
    parser.add_argument(
        "--no-export",
        dest="export",
        action="store_false",
        help="Serve with torch, not ONNX Runtime (no peer).",
    )
    parser.add_argument(
        "--peer-concurrency", type=int, default=4, help="Clients in the head-to-head with the naive peer."
    )
    parser.add_argument("--name", help="Results name: bench/results/NAME.{json,png} (serve_load[_photo]).")
    parser.add_argument("--photo", action="store_true", help="Shop photos and the whole bundle (no peer).")
    parser.add_argument(
        "--workers-only",
        action="store_true",
        help="Measure only 1 vs 2 workers (at the results file's saturation) and replace its `workers` entry.",
    )
    args = parser.parse_args()
    args.name = args.name or ("serve_load_photo" if args.photo else "serve_load")
    image, image_source = sample_photo() if args.photo else sample_png()
    if not args.photo:
        image_source += ", 28×28 PNG"
    body, headers = multipart_body(image)
    env = {"SHOPLENS_THREADS": str(args.threads), "SHOPLENS_MAX_INFLIGHT": "4096"}
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as tmp:
        models, bundle = prepare_models(Path(tmp), args.export, whole=args.photo)
        log = Path(tmp) / "server.log"
        print(f"bundle: {bundle}; image: {image_source}", flush=True)
        if args.workers_only:
            payload = json.loads((RESULTS / f"{args.name}.json").read_text())
            clients = worker_clients(payload["saturation_concurrency"])
            payload["workers"] = measure_workers(models, env, log, body, headers, clients, args)
            print(f"wrote {write_results(args.name, payload)} (workers only)")
            return
        with running_server(
            functools.partial(shoplens_command, models=models, batching=True), env, log
        ) as base:
            ramp = run_ramp(base, body, headers, args)
        sat = find_saturation(ramp)
        c1 = sat["concurrency"]
        print(f"saturation: {sat['rps']} req/s at {c1} clients; in-flight limit set to {c1}", flush=True)
        env["SHOPLENS_MAX_INFLIGHT"] = str(c1)
        levels, h2h = measure_levels(models, env, log, body, headers, c1, args)
        workers = measure_workers(models, env, log, body, headers, worker_clients(c1), args)
    write(ramp, sat, levels, h2h, bundle, image_source, args, workers)


def measure_levels(
    models: Path,
    env: dict[str, str],
    log: Path,
    body: bytes,
    headers: dict[str, str],
    c1: int,
    args: argparse.Namespace,
) -> tuple[list[dict], dict | None]:
    """1× and 2× saturation with batching on and off, and the head-to-head with the peer; interleaved repeats.

    The head-to-head runs ShopLens (batching on and off, default in-flight limit) and the peer at the same
    `--peer-concurrency` clients. Returns (levels, {"peer": ..., "shoplens": [...]}) summarised.
    """
    h2h_env = {**env, "SHOPLENS_MAX_INFLIGHT": str(Settings().max_inflight)}
    k = args.peer_concurrency
    with contextlib.ExitStack() as stack:

        def start(batching: bool, environment: dict[str, str]) -> str:
            command = functools.partial(shoplens_command, models=models, batching=batching)
            return stack.enter_context(running_server(command, environment, log))

        servers = {True: start(True, env), False: start(False, env)}
        with_peer = args.export and not args.photo
        h2h = {True: start(True, h2h_env), False: start(False, h2h_env)} if with_peer else {}
        naive = functools.partial(peer_command, models=models, threads=args.threads)
        peer = stack.enter_context(running_server(naive, env, log, "/openapi.json")) if with_peer else None
        for base in (*servers.values(), *h2h.values(), *([peer] if peer else [])):
            measure(base, body, headers, 1, 2.0, warmup=True)
        runs: dict[tuple[int, bool], list[dict]] = {}
        h2h_runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):  # interleaved, so drifts of a shared machine hit all alike
            for n, batching in ((1, True), (1, False), (2, True), (2, False)):
                run = measure(servers[batching], body, headers, n * c1, args.duration, batching=batching)
                runs.setdefault((n * c1, batching), []).append(run)
            for name, base in (
                ("batching on", h2h.get(True)),
                ("naive peer", peer),
                ("batching off", h2h.get(False)),
            ):
                if base:
                    h2h_runs.setdefault(name, []).append(
                        measure(base, body, headers, k, args.duration, service=name)
                    )
    levels = [summarise(r, batching=batching) for (_, batching), r in runs.items()]
    if not h2h_runs:
        return levels, None
    return levels, {name: summarise(r) for name, r in h2h_runs.items()}


def worker_clients(saturation: int) -> int:
    """Clients for the workers comparison: 2× saturation, and enough to keep two workers busy."""
    return max(2 * saturation, 8)


def measure_workers(
    models: Path,
    env: dict[str, str],
    log: Path,
    body: bytes,
    headers: dict[str, str],
    clients: int,
    args: argparse.Namespace,
) -> dict:
    """`shoplens serve --workers 1` and `--workers 2` at `clients` clients, repeats interleaved; rows and the ratio."""
    worker_env = {
        **env,
        "SHOPLENS_MAX_INFLIGHT": str(Settings().max_inflight),
        "SHOPLENS_RELOAD_INTERVAL_S": "2",
    }
    runs: dict[int, list[dict]] = {}
    with contextlib.ExitStack() as stack:
        bases = {}
        for n in (1, 2):
            command = functools.partial(shoplens_command, models=models, batching=True, workers=n)
            bases[n] = stack.enter_context(running_server(command, worker_env, log))
            wait_for_workers(bases[n], n)
            measure(bases[n], body, headers, 2 * n, 2.0, warmup=True)
        for _ in range(args.repeats):
            for n, base in bases.items():
                runs.setdefault(n, []).append(measure(base, body, headers, clients, args.duration, workers=n))
    rows = {str(n): summarise(r, workers=n) for n, r in runs.items()}
    return {
        "concurrency": clients,
        "date": machine_info()["date"],
        "load_average_1_5_15_min": machine_info()["load_average_1_5_15_min"],
        "runs": rows,
        "speedup_2_over_1": round(rows["2"]["rps"] / max(rows["1"]["rps"], 1e-9), 2),
    }


def run_ramp(base: str, body: bytes, headers: dict[str, str], args: argparse.Namespace) -> list[dict]:
    """Doubling concurrency until two steps bring no 5% gain; rows as in `levels`."""
    measure(base, body, headers, 4, 2.0, warmup=True)
    print("ramp (batching on, no in-flight limit):", flush=True)
    ramp: list[dict] = []
    for c in (c for c in RAMP if c <= args.max_concurrency):
        ramp.append(
            summarise([measure(base, body, headers, c, args.ramp_duration, batching=True)], batching=True)
        )
        if len(ramp) >= 3 and ramp[-1]["rps"] < 1.05 * max(r["rps"] for r in ramp[:-2]):
            break
    return ramp


def write(
    ramp: list[dict],
    sat: dict,
    levels: list[dict],
    h2h: dict | None,
    bundle: str,
    image_source: str,
    args: argparse.Namespace,
    workers: dict | None = None,
) -> None:
    """The JSON results and the chart."""
    on = {r["concurrency"]: r for r in levels if r["batching"]}
    off = {r["concurrency"]: r for r in levels if not r["batching"]}
    c1 = sat["concurrency"]
    defaults = Settings()
    payload = {
        "machine": machine_info(),
        "bundle": bundle,
        "image": f"{image_source}, one per request",
        "saturation_rps": sat["rps"],
        "saturation_concurrency": c1,
        "ramp": ramp,
        "levels": levels,
        "batching_speedup_at_saturation": round(on[c1]["rps"] / max(off[c1]["rps"], 1e-9), 2),
        "batching_speedup_at_2x": round(on[2 * c1]["rps"] / max(off[2 * c1]["rps"], 1e-9), 2),
        "peer": h2h["naive peer"] if h2h else None,
        "head_to_head": h2h,
        "vs_peer": {
            "batching_on": round(h2h["batching on"]["rps"] / h2h["naive peer"]["rps"], 2),
            "batching_off": round(h2h["batching off"]["rps"] / h2h["naive peer"]["rps"], 2),
        }
        if h2h
        else None,
        "workers": workers,
        "settings": {
            "duration_s": args.duration,
            "repeats": args.repeats,
            "ramp_duration_s": args.ramp_duration,
            "workers": 1,
            "server_threads": args.threads,
            "batch_max_size": defaults.batch_max_size,
            "batch_max_wait_ms": defaults.batch_max_wait_ms,
            "queue_max": defaults.queue_max,
            "max_inflight": {"ramp": 4096, "levels": c1, "head_to_head": defaults.max_inflight},
            "peer_concurrency": args.peer_concurrency,
            "inline_inference_ms": defaults.inline_inference_ms,
            "peer": "bench/naive_service.py: FastAPI + python-multipart + Pillow + ONNX Runtime, same model.onnx, "
            f"{args.threads} intra-op thread(s), no access log",
            "http": _http_impl(),
        },
        "notes": (
            "Closed-loop clients: each sends its next request as soon as the last is answered, without honouring "
            "Retry-After. The httpx load generator runs on the same 2 CPU cores as the server (and the machine may be "
            "shared), so it takes CPU the server would otherwise have, and latencies include client overhead. "
            "rps counts 200 answers only (mean ± std over the interleaved repeats; percentiles over all their "
            "latencies). The ramp runs without an in-flight limit; the 1×/2× levels run with "
            "SHOPLENS_MAX_INFLIGHT set to the saturation concurrency, as an operator would from this ramp. "
            "`head_to_head`: ShopLens (batching on and off, default in-flight limit) and the naive peer (`peer`) at "
            "the same peer_concurrency clients, interleaved in the same repeats as the levels; `vs_peer` is "
            "ShopLens' throughput over the peer's there. `workers`: `shoplens serve --workers 1` vs `--workers 2` "
            "(batching on, default in-flight limit, server_threads inference threads in each worker) at 2× the "
            "saturation concurrency (at least 8 clients), interleaved, with its own date and load; "
            "`settings.workers` is the worker count of every other row."
        ),
    }
    path = write_results(args.name, payload)
    plot(ramp, levels, h2h["naive peer"] if h2h else None, RESULTS / f"{args.name}.png")
    print(f"wrote {path} and {RESULTS / args.name}.png")


def _http_impl() -> str:
    """Which HTTP parser and event loop uvicorn picks here."""
    import importlib.util

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {parser} + {loop}"


if __name__ == "__main__":
    main()
