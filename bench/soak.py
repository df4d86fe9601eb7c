"""Soak and faults: mixed traffic on a real `shoplens serve` (API keys, loopback) at about 1× saturation for
--duration seconds, RSS sampled; then, under the same load, the database made read-only, the image store's disk
full (a small tmpfs), kill -9 and a restart, and with --postgres the PostgreSQL server stopped and started.

    .venv/bin/python bench/soak.py [--duration 600] [--fault-s 20] [--postgres] [--name soak]

A short ramp of closed-loop clients (1, 2, 4, …) finds the saturation throughput; the lowest client count within
10% of it is held. Routes: classify, products create and list, events, recommendations, ads select and click
(with the impression token), search by photo. Each fault records its 5xx (other than the 503-with-Retry-After or
507 it is meant to give), the writes acknowledged with a 2xx that are missing afterwards, and whether the
service recovered (ready, and a write accepted) without a restart. Fault staging needs root (chattr, a tmpfs);
without it a fault is recorded as skipped. Writes bench/results/NAME.json and NAME.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.faults: the faults tests stage
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from common import machine_info, write_results
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from servers import free_port, prepare_models
from soak_chart import plot
from soak_server import CLUSTER_SCRIPT, Server, postgres_stopped, seed, setup_keys
from soak_summary import counts_int, refused_by_route, route_latencies, rps, rss_growth, timeline
from soak_traffic import MIX, READS, REFUSALS, Record, Traffic, counts, drive, lost_writes, shop_pngs
from tests.support.faults import FaultUnavailableError, disk_full, read_only, small_disk

ROOT = Path(__file__).resolve().parent
RAMP = (1, 2, 4, 8, 16, 32)
IMAGE_DISK_KIB = 48 * 1024  # the image store's tmpfs: room for the run, small enough to fill at once
RECOVERY_S = 30.0


async def ramp(traffic: Traffic, base: str, step_s: float, progress: Progress) -> list[dict]:
    """Closed-loop clients doubling until two steps bring no 5% more throughput; rows {clients, rps}."""
    rows: list[dict] = []
    task = progress.add_task("ramp", total=len(RAMP))
    for clients in RAMP:
        start = time.monotonic()
        await drive(traffic, base, clients, start + step_s)
        rows.append({"clients": clients, "rps": round(rps(traffic.record, start, time.monotonic()), 1)})
        progress.update(task, advance=1, description=f"ramp: {clients} clients {rows[-1]['rps']} req/s")
        if len(rows) >= 3 and rows[-1]["rps"] < 1.05 * max(r["rps"] for r in rows[:-2]):
            break
    progress.update(task, completed=len(RAMP))
    return rows


async def sample(server: Server, record: Record, samples: list[dict], stop: asyncio.Event) -> None:
    """Each second: time, RSS and answers so far (the timeline of the chart)."""
    while not stop.is_set():
        samples.append({"t": time.monotonic(), "rss_mib": server.rss_mib(), "answers": len(record.answers)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def recovered(server: Server, traffic: Traffic, until: float) -> float | None:
    """Seconds until /readyz is 200 and a product write is accepted again (None if not by `until`)."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as c:
        while time.monotonic() < until:
            with contextlib.suppress(httpx.TransportError):
                if (await c.get("/readyz")).status_code == 200:
                    r = await traffic.products_create(c)
                    if r is not None and r.is_success:
                        return round(time.monotonic() - start, 2)
            await asyncio.sleep(0.25)
    return None


@contextlib.asynccontextmanager
async def readiness(base: str, seen: list[int]) -> AsyncIterator[None]:
    """Poll /readyz twice a second during the block, its statuses into `seen`."""
    stop = asyncio.Event()

    async def poll() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=5) as c:
            while not stop.is_set():
                try:
                    seen.append((await c.get("/readyz")).status_code)
                except httpx.TransportError:
                    seen.append(0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    task = asyncio.create_task(poll())
    try:
        yield
    finally:
        stop.set()
        await task


Fault = Callable[[], contextlib.AbstractContextManager]


async def run_fault(name: str, stage: Fault | None, server: Server, traffic: Traffic, hold_s: float) -> dict:
    """One fault under the running load: staged for hold_s, undone, then recovery awaited and writes checked."""
    start, readyz = time.monotonic(), []
    restart_s = None
    async with readiness(server.base, readyz):
        try:
            if stage is None:  # kill -9, then a restart on the same port
                await asyncio.sleep(hold_s / 2)
                server.kill9()
                t0 = time.monotonic()
                await asyncio.to_thread(server.start)
                restart_s = round(time.monotonic() - t0, 2)
            else:
                with stage():
                    await asyncio.sleep(hold_s)
        except FaultUnavailableError as e:
            return {"name": name, "skipped": str(e)}
        undone = time.monotonic()
        took = await recovered(server, traffic, undone + RECOVERY_S)
    end = time.monotonic()
    answers = traffic.record.between(start, end)
    missing = await lost_writes(
        server.base, _keys(traffic), [w for w in traffic.record.writes if start - 2 <= w.t < end]
    )
    bad = [
        a
        for a in answers
        if a.status >= 500 and (a.status not in REFUSALS or (a.status == 503 and not a.retry_after))
    ]
    return {
        "name": name,
        "five_xx": len(bad),
        "lost_writes": len(missing),
        "recovered": took is not None,
        "recovery_s": took,
        "restart_s": restart_s,
        "fault_s": round(undone - start, 1),
        "status_counts": dict(sorted(counts(answers).items())),
        "refused_by_route": refused_by_route(answers),
        "readyz_statuses": counts_int(readyz),
        "writes_checked": sum(1 for w in traffic.record.writes if start - 2 <= w.t < end),
        "window": [start, end],
    }


def _keys(traffic: Traffic) -> dict[str, str]:
    return {role: h["X-API-Key"] for role, h in traffic.h.items()}


async def soak(args: argparse.Namespace, workdir: Path, progress: Progress) -> dict:
    """The whole run: server, seed, ramp, hold, faults; the results (and the timeline for the chart)."""
    models, bundle = prepare_models(workdir, export=True)
    keys = setup_keys(workdir / "keys.json")
    catalog = workdir / "catalog"
    env = {
        "SHOPLENS_MODELS_DIR": str(models),
        "SHOPLENS_API_KEYS_FILE": str(workdir / "keys.json"),
        "SHOPLENS_CATALOG_DIR": str(catalog),
        "SHOPLENS_RELOAD_INTERVAL_S": "0",
        "SHOPLENS_AD_TOKEN_SECRET": secrets.token_hex(16),  # tokens stay valid across the kill -9 restart
        "SHOPLENS_THREADS": "1",
        "SHOPLENS_MAX_INFLIGHT_PER_CALLER": "100000",  # up to 32 clients share three keys: one load generator
    }
    if args.database_url:
        env["SHOPLENS_DATABASE_URL"] = args.database_url
    images = shop_pngs()
    record = Record()
    traffic = Traffic(keys, images, record, READS if args.reads_only else MIX)
    server = Server(env, workdir / "server.log")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(small_disk(catalog / "images", IMAGE_DISK_KIB))
            image_disk = True
        except FaultUnavailableError as e:
            image_disk, why_not = False, str(e)
        await asyncio.to_thread(server.start)
        stack.callback(server.stop)
        await asyncio.to_thread(seed, traffic, server.base, images)
        await drive(traffic, server.base, 4, time.monotonic() + min(10.0, args.ramp_s))  # warm-up
        ramp_rows = await ramp(traffic, server.base, args.ramp_s, progress)
        best = max(r["rps"] for r in ramp_rows)
        clients = next(r["clients"] for r in ramp_rows if r["rps"] >= 0.9 * best)
        samples: list[dict] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(server, record, samples, stop))
        hold_start = time.monotonic()
        task = progress.add_task(f"hold: {clients} clients", total=args.duration)
        load = asyncio.create_task(drive(traffic, server.base, clients, hold_start + args.duration))
        while not load.done():
            await asyncio.sleep(1)
            now = time.monotonic()
            five = sum(1 for a in record.between(hold_start, now) if a.status >= 500)
            progress.update(
                task,
                completed=min(args.duration, now - hold_start),
                description=f"hold: {clients} clients {rps(record, now - 10, now):.0f} req/s "
                f"RSS {server.rss_mib() or 0:.0f} MiB 5xx {five}",
            )
        hold_end = time.monotonic()
        faults = await fault_phase(args, server, traffic, clients, catalog, image_disk, progress)
        stop.set()
        await sampler
        missing = await lost_writes(server.base, keys, record.writes)
    hold = record.between(hold_start, hold_end)
    status = counts(hold)
    rss = rss_growth(samples, hold_start, hold_end)
    if not image_disk:
        faults = [
            f if f["name"] != "disk_full" else {"name": "disk_full", "skipped": why_not} for f in faults
        ]
    return {
        "duration_s": round(hold_end - hold_start, 1),
        "requests": len(hold),
        "status_counts": dict(sorted(status.items())),
        "five_xx": sum(n for s, n in status.items() if int(s) >= 500),
        "no_answer": status.get("0", 0),
        "rss_growth_pct": rss["growth_pct"],
        "rss": rss,
        "throughput_rps": round(len(hold) / (hold_end - hold_start), 1),
        "saturation": {"ramp": ramp_rows, "best_rps": best, "clients_held": clients},
        "routes": route_latencies(record, hold_start, hold_end),
        "faults": [{k: v for k, v in f.items() if k != "window"} for f in faults],
        "lost_writes_total": len(missing),
        "writes_acknowledged": len(record.writes),
        "bundle": bundle,
        "timeline": timeline(samples, hold_start, faults),
    }


async def fault_phase(
    args: argparse.Namespace,
    server: Server,
    traffic: Traffic,
    clients: int,
    catalog: Path,
    image_disk: bool,
    progress: Progress,
) -> list[dict]:
    """The faults in turn, under the same load (it runs until the last one has recovered)."""
    stages: list[tuple[str, Fault | None]] = []
    if not args.database_url:
        stages.append(("read_only_db", lambda: read_only(catalog / "catalog.db")))
    elif args.pg_dir:
        stages.append(("postgres_stop", lambda: postgres_stopped(args.pg_dir)))
    if image_disk:
        stages.append(("disk_full", lambda: disk_full(catalog / "images")))
    stages.append(("kill9", None))
    stop = asyncio.Event()
    load = asyncio.create_task(drive(traffic, server.base, clients, time.monotonic() + 3600, stop))
    task = progress.add_task("faults", total=len(stages))
    results = []
    for name, stage in stages:
        progress.update(task, description=f"fault: {name}")
        await asyncio.sleep(3)  # load before the fault
        results.append(await run_fault(name, stage, server, traffic, args.fault_s))
        progress.update(task, advance=1)
    stop.set()
    await load
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=600.0, help="Seconds of mixed traffic at saturation."
    )
    parser.add_argument("--ramp-s", type=float, default=8.0, help="Seconds per ramp step.")
    parser.add_argument("--fault-s", type=float, default=20.0, help="Seconds each fault lasts.")
    parser.add_argument("--postgres", action="store_true", help="Run on a throw-away PostgreSQL cluster.")
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="No product creates or shopper events in the mix (the data stays put: memory growth is not data).",
    )
    parser.add_argument("--name", default="soak", help="Results name: bench/results/NAME.{json,png}.")
    args = parser.parse_args()
    args.database_url, args.pg_dir = None, None
    with tempfile.TemporaryDirectory(prefix="shoplens-soak-") as tmp, contextlib.ExitStack() as stack:
        if args.postgres:
            args.pg_dir = tempfile.mkdtemp(prefix="shoplens-pg.")  # the server's user must reach it
            os.chmod(args.pg_dir, 0o755)
            script = CLUSTER_SCRIPT
            port = str(free_port())
            args.database_url = subprocess.run(
                [str(script), "start", args.pg_dir, port],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout.strip()
            stack.callback(subprocess.run, [str(script), "stop", args.pg_dir], timeout=120)
        columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        with Progress(*columns) as progress:
            result = asyncio.run(soak(args, Path(tmp), progress))
    payload = {
        "machine": machine_info(),
        "database": "postgresql" if args.postgres else "sqlite",
        **result,
        "settings": {
            "duration_s": args.duration,
            "ramp_step_s": args.ramp_s,
            "fault_s": args.fault_s,
            "mix": READS if args.reads_only else MIX,
        },
        "notes": NOTES,
    }
    path = write_results(args.name, payload)
    plot(payload, ROOT / "results" / f"{args.name}.png")
    growth = payload["rss_growth_pct"]
    print(f"wrote {path}: {payload['requests']} requests, 5xx {payload['five_xx']}, RSS growth {growth}%")
    for f in payload["faults"]:
        print(f"  {f}")


NOTES = (
    "Closed-loop httpx clients on the same 2 CPU cores as the server (a shared machine: other work ran beside it; "
    "see load_average). `five_xx`, `status_counts`, `routes` and `rss` cover the hold at saturation only; status "
    "'0' means no answer. A fault's `five_xx` counts 5xx other than the refusals it is meant to give (503 with "
    "Retry-After, 507); `lost_writes` are writes acknowledged with a 2xx in the fault's window (from 2 s before it "
    "to recovery) missing afterwards; `recovered`: /readyz 200 and a product write accepted within "
    f"{RECOVERY_S:.0f} s of undoing the fault, without a restart (kill9: after the restart). `lost_writes_total` "
    "checks every write acknowledged in the whole run at the end. RSS growth: median of the last 10% of the hold "
    "vs the median of the 10% after warm-up (a quarter of the hold, 60 s at most); the catalogue grows during the "
    "run (products created), so some growth is data, not a leak."
)


if __name__ == "__main__":
    main()
