"""Start-to-ready time and resident memory of `shoplens serve`, before and after (two source trees, one bundle).

    .venv/bin/python bench/serve_footprint.py --before-src /path/to/old/checkout/src [--repeats 7]

Both sides serve the same exported bundle (a copy of the newest one under var/models/fashion-mnist, or a freshly
initialised shopnet, exported with this tree's code) from a private models folder. Each run starts
`python -m shoplens.cli serve --open` with PYTHONPATH pointing at one side's src, measures the time from process
start until /readyz answers 200, sends a few classify requests, then reads the process's resident memory
(VmRSS) and peak (VmHWM) from /proc and whether it mapped libtorch. Runs alternate between the two sides.
Writes bench/results/serve_footprint.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from common import machine_info, write_results
from servers import free_port, multipart_body, prepare_models, sample_png, stop

HERE = Path(__file__).resolve().parent.parent / "src"
READY_TIMEOUT_S = 120.0
POLL_S = 0.005
HEAVY = {
    "torch": "libtorch_cpu",
    "scipy": "/scipy/",
    "sklearn": "/sklearn/",
    "faiss": "faiss",
    "cv2": "/cv2/",
}


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def mapped(pid: int) -> dict[str, bool]:
    """Which heavy libraries the process has mapped (from /proc/PID/maps)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: marker in maps for name, marker in HEAVY.items()}


def one_run(src: Path, models: Path, workdir: Path, requests: int, body: bytes, headers: dict) -> dict:
    """Start the server from `src`, time it to ready, exercise it, read its memory, stop it."""
    port = free_port()
    cmd = [sys.executable, "-m", "shoplens.cli", "serve", "--open", "--port", str(port)]
    cmd += ["--models-dir", str(models)]
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "SHOPLENS_RELOAD_INTERVAL_S": "0",
        "SHOPLENS_CATALOG_DIR": str(workdir / "catalog"),
        "SHOPLENS_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    with open(workdir / "server.log", "ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=base, timeout=2.0) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"{src}: the server exited with {proc.returncode}; see {workdir}")
                if time.perf_counter() - start > READY_TIMEOUT_S:
                    raise RuntimeError(f"{src}: not ready within {READY_TIMEOUT_S} s")
                time.sleep(POLL_S)
            ready_s = time.perf_counter() - start
            at_ready = proc_status(proc.pid)
            codes = [
                client.post("/v1/classify", content=body, headers=headers).status_code
                for _ in range(requests)
            ]
            status = proc_status(proc.pid)
            codes.append(client.get("/openapi.json").status_code)  # every route, the catalogue API's too
            with_catalogue = proc_status(proc.pid)
        if set(codes) != {200}:
            raise RuntimeError(f"{src}: classify or /openapi.json answered {sorted(set(codes))}")
        return {
            "ready_s": round(ready_s, 3),
            "rss_mib": round(status["VmRSS"], 1),
            "rss_at_ready_mib": round(at_ready["VmRSS"], 1),
            "peak_rss_mib": round(status["VmHWM"], 1),
            "rss_with_catalogue_api_mib": round(with_catalogue["VmRSS"], 1),
            "mapped": mapped(proc.pid),
        }
    finally:
        stop(proc)


def summary(runs: list[dict]) -> dict:
    """Medians (and spread) over the runs of one side."""
    out: dict = {"runs": len(runs)}
    for key in ("ready_s", "rss_mib", "rss_at_ready_mib", "peak_rss_mib", "rss_with_catalogue_api_mib"):
        values = [r[key] for r in runs]
        out[key] = round(statistics.median(values), 3)
        out[f"{key}_min_max"] = [min(values), max(values)]
    out["mapped"] = {name: any(r["mapped"][name] for r in runs) for name in HEAVY}
    out["all_ready_s"] = [r["ready_s"] for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", type=Path, required=True, help="src/ of the tree to compare against.")
    parser.add_argument(
        "--after-src", type=Path, default=HERE, help="src/ of the new tree (default: this one)."
    )
    parser.add_argument("--before-label", default="before", help="What the before tree is (e.g. a commit).")
    parser.add_argument("--repeats", type=int, default=7, help="Runs per side (alternating).")
    parser.add_argument(
        "--requests", type=int, default=50, help="Classify requests per run before reading RSS."
    )
    parser.add_argument("--name", default="serve_footprint", help="Results name: bench/results/NAME.json.")
    args = parser.parse_args()
    body, headers = multipart_body(sample_png()[0])
    sides = {"before": args.before_src.resolve(), "after": args.after_src.resolve()}
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="shoplens-footprint-") as tmp:
        models, bundle = prepare_models(Path(tmp), export=True)
        print(f"bundle: {bundle}", flush=True)
        for src in sides.values():  # warm the file cache; not recorded
            one_run(src, models, Path(tmp), 1, body, headers)
        for i in range(args.repeats):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for side in order:
                run = one_run(sides[side], models, Path(tmp), args.requests, body, headers)
                runs[side].append(run)
                print(f"  {side:6s} ready {run['ready_s']:.3f} s  rss {run['rss_mib']:.0f} MiB", flush=True)
    before, after = summary(runs["before"]), summary(runs["after"])
    payload = {
        "machine": machine_info(),
        "bundle": bundle,
        "before": {"src": str(sides["before"]), "label": args.before_label, **before},
        "after": {"src": str(sides["after"]), **after},
        "ready_speedup": round(before["ready_s"] / after["ready_s"], 2),
        "rss_ratio": round(after["rss_mib"] / before["rss_mib"], 3),
        "settings": {"repeats": args.repeats, "requests_before_rss": args.requests, "poll_s": POLL_S},
        "notes": (
            "ready_s: from starting `python -m shoplens.cli serve --open` until GET /readyz answers 200 (the model "
            "is loaded), median over alternating runs; rss_mib: VmRSS after `requests` classify requests; "
            "peak_rss_mib: VmHWM then; rss_with_catalogue_api_mib: VmRSS after GET /openapi.json, which loads every "
            "route (the catalogue API's routers are included on first need since issue 10). `mapped` says which "
            "heavy libraries the server process had mapped in any run, at the end."
        ),
    }
    path = write_results(args.name, payload)
    print(
        f"before: ready {before['ready_s']} s, {before['rss_mib']} MiB; after: ready {after['ready_s']} s, "
        f"{after['rss_mib']} MiB; wrote {path}"
    )


if __name__ == "__main__":
    main()
