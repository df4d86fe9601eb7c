"""Peak memory of one epoch of training-data loading, streamed from disk vs held in memory, at 10k and 100k photos.

Generates a labelled folder of small PNGs (32×32 RGB, 10 classes) in a temporary directory (the 10k folder
hard-links the first 10k files of the 100k one), then, in a fresh process per (mode, size), loads the folder
the way `shoplens train` does and reads one epoch of batches (batch 256) through the training feed
(training/feed.py): `stream` decodes in 2 DataLoader workers, `memory` decodes everything first and slices
the array. No model runs: this measures the data path only. Memory: the loading process's peak RSS
(VmHWM), and the peak of the summed PSS of it and its workers (sampled every 50 ms; PSS splits shared
pages, so forked workers are not counted twice).

    python bench/stream_memory.py            # → bench/results/stream_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

SIZES = (10_000, 100_000)
BATCH = 256
POLL_S = 0.05


def generate(root: Path, n: int, seed: int = 0) -> None:
    """n 32×32 RGB PNGs under root/c<k>/: a class colour, a random box, a little noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (10, 3))
    for k in range(10):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        k = i % 10
        img = rng.integers(200, 256, (32, 32, 3), dtype=np.uint8)
        x, y = rng.integers(0, 16, 2)
        img[y : y + 16, x : x + 16] = colours[k]
        Image.fromarray(img).save(root / f"c{k}" / f"{i:06d}.png", compress_level=1)


def link_subset(src: Path, dst: Path, n: int) -> None:
    """dst holds hard links to the first n photos of src (same files, no copies)."""
    for i in range(n):
        k = i % 10
        (dst / f"c{k}").mkdir(parents=True, exist_ok=True)
        os.link(src / f"c{k}" / f"{i:06d}.png", dst / f"c{k}" / f"{i:06d}.png")


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _tree_pss_kib(pid: int) -> int:
    """Summed PSS of a process and its children (the DataLoader workers)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:  # a worker that just exited
            pass
    return total


def child(mode: str, folder: Path) -> dict:
    """Load the folder as training does and read one epoch of batches; the memory it took."""
    import torch

    from shoplens.data.folder import load_image_folder
    from shoplens.imaging import PreprocessConfig
    from shoplens.training.distributed import Dist
    from shoplens.training.feed import EpochFeed

    torch.set_num_threads(1)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_pss_kib(os.getpid()))
            time.sleep(POLL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    base_kib = _status_kib(os.getpid(), "VmRSS")
    sampler.start()
    start = time.perf_counter()
    cfg = PreprocessConfig(size=(32, 32), mode="RGB", resize="pad")
    ds = load_image_folder(folder, cfg, stream=mode == "stream")
    feed = EpochFeed(ds, BATCH, torch.Generator().manual_seed(0), 0, Dist(), workers=2)
    images, checksum = 0, 0
    for x, _ in feed.epoch(0):
        images += len(x)
        checksum += int(x[:, :, 0, 0].sum())
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return {
        "mode": mode,
        "photos": len(ds),
        "images_read": images,
        "seconds": round(seconds, 2),
        "rss_before_loading_mib": round(base_kib / 1024, 1),
        "peak_rss_mib": round(_status_kib(os.getpid(), "VmHWM") / 1024, 1),
        "peak_pss_with_workers_mib": round(peak[0] / 1024, 1),
    }


def main() -> None:
    """Generate the folders, measure each (mode, size) in its own process, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help="Where to generate the photos (default: a temp dir).")
    parser.add_argument("--sizes", type=int, nargs=2, default=SIZES, help="The two folder sizes.")
    parser.add_argument(
        "--name", default="stream_memory", help="Results file name (bench/results/NAME.json)."
    )
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="stream-memory-", dir=args.workdir) as tmp:
        t0 = time.perf_counter()
        big, small = Path(tmp) / f"n{sizes[1]}", Path(tmp) / f"n{sizes[0]}"
        generate(big, sizes[1])
        link_subset(big, small, sizes[0])
        print(f"generated {sizes[1]} photos in {time.perf_counter() - t0:.0f}s", flush=True)
        runs = []
        for mode in ("stream", "memory"):
            for folder in (small, big):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(folder)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)

    def ratio(mode: str, key: str) -> float:
        a, b = (r[key] for r in runs if r["mode"] == mode)
        return round(b / a, 3)

    path = write_results(
        args.name,
        {
            "machine": machine_info(),
            "measured": __doc__.split("\n\n")[1].replace("\n", " "),
            "photo": "32x32 RGB PNG, 10 classes",
            "batch_size": BATCH,
            "loader_workers": 2,
            "runs": runs,
            "ratio_large_vs_small": {
                mode: {key: ratio(mode, key) for key in ("peak_rss_mib", "peak_pss_with_workers_mib")}
                for mode in ("stream", "memory")
            },
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
