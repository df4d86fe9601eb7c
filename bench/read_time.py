"""Time the photo reader per photo, for this tree and optionally another checkout, paired in one run.

    .venv/bin/python bench/read_time.py                                  # this tree: 200 shop photos, 3 rounds
    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/read_time.py --against /tmp/before            # rounds alternate: before, this, ...
    .venv/bin/python bench/read_time.py --against /tmp/before --thumbnails --out read_time_thumbnails

Each round is a fresh process with the tree's `src` first on its path. It renders the same shop photos of
Fashion-MNIST test garments (src/shoplens/data/shop_photos.py), decodes them as /v1/classify does, reads each
once to warm up, then times `read_photo` on every photo (with --thumbnails: test garments as the demo catalogue
stores them, 28×28 PNGs dark on white, instead): wall and CPU time (CPU counts every thread). It also
hashes every read, so a comparison says whether both trees read the photos the same, byte for byte. Writes
bench/results/read_time.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

HERE = Path(__file__).resolve()
THIS_TREE = HERE.parent.parent


def measure(photos: int, thumbnails: bool = False) -> dict:
    """Per-photo wall and CPU milliseconds of read_photo over `photos` shop photos (or 28×28 thumbnails), and the
    reads' hash."""
    from PIL import Image

    import shoplens
    from shoplens.data import load_fashion_mnist
    from shoplens.data.shop_photos import shop_photos
    from shoplens.imaging import decode_image
    from shoplens.imaging.photo import WORK_SIDE, read_photo

    test = load_fashion_mnist("test", verify=False)
    if thumbnails:
        images = [Image.fromarray(255 - plane).convert("RGB") for plane in test.images[:photos, 0]]
    else:
        images = [
            decode_image(p.data, at_least=WORK_SIDE)
            for p in shop_photos(test.images[:, 0], test.labels, photos)
        ]
    digest = hashlib.sha256()
    for image in images:  # warm-up; its reads are the ones hashed
        digest.update(read_photo(image).array.tobytes())
    wall, cpu = [], []
    for image in images:
        w, c = time.perf_counter(), time.process_time()
        read_photo(image)
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {
        "code": str(Path(shoplens.__file__).resolve().parents[2]),
        "photos": photos,
        "thumbnails": thumbnails,
        "wall_ms_p50": statistics.median(wall),
        "wall_ms_mean": statistics.fmean(wall),
        "cpu_ms_mean": statistics.fmean(cpu),
        "reads_sha256": digest.hexdigest(),
    }


def run_round(tree: Path, photos: int, thumbnails: bool = False) -> dict:
    """One measurement in a fresh process whose `shoplens` is the tree's."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    out = subprocess.run(
        [sys.executable, str(HERE), "--worker", "--photos", str(photos)] + ["--thumbnails"] * thumbnails,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Alternate rounds between the trees; write every round and the ratios of their means."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout to time in the same run")
    parser.add_argument("--out", default="read_time")
    parser.add_argument("--thumbnails", action="store_true", help="28×28 thumbnails instead of shop photos")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.photos, args.thumbnails)))
        return
    if args.against is not None and not (args.against / "src" / "shoplens").is_dir():
        parser.exit(2, f"bench/read_time.py: {args.against} holds no src/shoplens\n")
    trees = {"this": THIS_TREE} | ({"against": args.against.resolve()} if args.against else {})
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in sorted(trees):  # "against" first, "this" second, in every round
            result = run_round(trees[name], args.photos, args.thumbnails)
            rounds[name].append(result)
            print(
                f"round {r + 1} {name}: {result['wall_ms_p50']:.1f} ms p50, {result['cpu_ms_mean']:.1f} ms CPU"
            )
    summary = {
        name: {
            "wall_ms_p50": statistics.fmean(x["wall_ms_p50"] for x in runs),
            "wall_ms_mean": statistics.fmean(x["wall_ms_mean"] for x in runs),
            "cpu_ms_mean": statistics.fmean(x["cpu_ms_mean"] for x in runs),
        }
        for name, runs in rounds.items()
    }
    payload: dict = {
        "benchmark": "read_time",
        "command": "python bench/read_time.py " + " ".join(sys.argv[1:]),
        "photos": args.photos,
        "thumbnails": args.thumbnails,
        "summary": summary,
        "rounds": rounds,
    }
    if args.against:
        payload["this_over_against"] = {
            k: summary["this"][k] / summary["against"][k] for k in summary["this"]
        }
        hashes = {x["reads_sha256"] for runs in rounds.values() for x in runs}
        payload["same_reads"] = len(hashes) == 1
    payload["machine"] = machine_info()
    path = write_results(args.out, payload)
    print(
        f"{path}: {json.dumps(summary)}" + (f", same reads: {payload['same_reads']}" if args.against else "")
    )


if __name__ == "__main__":
    main()
