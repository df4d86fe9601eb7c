"""How does a bundle read garments shot the ways studios shoot them: on a hanger, where wall meets floor, under a
hard spotlight, on a mannequin?

    .venv/bin/python bench/studio_scenes.py --bundle M/fashion-mnist/v5-fast [--count 800] [--out studio_scenes]
    .venv/bin/python bench/studio_scenes.py --bundle B --url http://127.0.0.1:8000 [--api-key KEY]   # via a server
    .venv/bin/python bench/studio_scenes.py --bundle B --setups tilted --count 800   # garments laid at a slant
    .venv/bin/python bench/studio_scenes.py --bundle B --setups beside --count 400   # another garment beside it
    .venv/bin/python bench/studio_scenes.py --bundle B --setups alike --count 400    # two of a kind side by side
    .venv/bin/python bench/studio_scenes.py --bundle B --setups surfaces --count 800  # on brick, grass, gravel
    .venv/bin/python bench/studio_scenes.py --bundle B --setups patterns --count 1000  # patterned garments
    .venv/bin/python bench/studio_scenes.py --bundle B --setups scenes --count 600    # before a blurred real scene
    .venv/bin/python bench/studio_scenes.py --bundle B --setups cut --count 600       # cut by the photo's frame
    .venv/bin/python bench/studio_scenes.py --bundle B --setups spot --count 600      # a pool of light behind it
    .venv/bin/python bench/studio_scenes.py --bundle B --setups small --count 600     # small in the frame
    .venv/bin/python bench/studio_scenes.py --bundle B --setups collage --count 600   # colour variants tiled
    .venv/bin/python bench/studio_scenes.py --bundle B --setups flatlay --count 900   # props laid around it
    .venv/bin/python bench/studio_scenes.py --bundle B --setups cloths --count 1000   # on printed cloths

Renders Fashion-MNIST TEST garments with `shoplens.data.studio_scenes` (the set-ups in turn) and classifies each
photo through the serving path (safe decode, the bundle's preprocessing, the Predictor), or through a running
server's /v1/classify with --url (the bundle then only classifies the originals). Reports, per set-up:
top-1, the share sent to review, the share called "not a product", and the top-1 the same garments get as their
28×28 originals, so that what the set-up costs is read off directly. Writes bench/results/NAME.{json,png}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.data import CLASS_NAMES, load_fashion_mnist
from shoplens.data.studio_scenes import GROUPS, studio_photos
from shoplens.evaluation.photos import LocalClassifier, RemoteClassifier


def main() -> None:
    """Run the studio set-ups against one bundle and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, help="a bundle folder")
    parser.add_argument("--count", type=int, default=800, help="photos in all (the set-ups in turn)")
    parser.add_argument("--url", help="classify the photos through this server's /v1/classify")
    parser.add_argument("--api-key", default=os.environ.get("SHOPLENS_API_KEY"), help="X-API-Key for --url")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setups", choices=sorted(GROUPS), default="studio", help="which group of set-ups")
    parser.add_argument(
        "--out",
        help="results name (default: studio_scenes, tilted_photos, beside_photos, surface_photos, pattern_photos"
        " scene_photos, cut_photos, alike_photos, spot_photos, small_photos, collage_photos, flatlay_photos"
        " or cloth_photos)",
    )
    args = parser.parse_args()
    setups = GROUPS[args.setups]
    out = (
        args.out
        or {
            "studio": "studio_scenes",
            "tilted": "tilted_photos",
            "beside": "beside_photos",
            "alike": "alike_photos",
            "surfaces": "surface_photos",
            "patterns": "pattern_photos",
            "scenes": "scene_photos",
            "cut": "cut_photos",
            "spot": "spot_photos",
            "small": "small_photos",
            "collage": "collage_photos",
            "flatlay": "flatlay_photos",
            "cloths": "cloth_photos",
        }[args.setups]
    )
    if args.count < len(setups):
        parser.error(f"--count must be at least {len(setups)}, one photo per set-up")
    local = LocalClassifier(args.bundle)
    classify = RemoteClassifier(args.url, args.api_key) if args.url else local
    test = load_fashion_mnist("test")
    start = time.perf_counter()
    photos = list(studio_photos(test.images[:, 0], test.labels, args.count, args.seed, setups))
    rendered = time.perf_counter() - start
    answers = []
    for i in range(0, len(photos), 32):
        answers += classify([p.data for p in photos[i : i + 32]])
    index = np.array([p.meta["test_index"] for p in photos])
    originals = local.predictor.probabilities(test.images[index]).argmax(1)
    rows: dict[str, list[tuple[bool, bool, bool, bool]]] = defaultdict(list)
    for photo, ans, original in zip(photos, answers, originals, strict=True):
        truth = CLASS_NAMES[photo.meta["label"]]
        rows[photo.meta["setup"]].append(
            (ans.predicted == truth, ans.needs_review, ans.flagged, int(original) == photo.meta["label"])
        )
    per_setup = {}
    for setup in setups:
        table = np.array(rows[setup], bool).reshape(-1, 4)
        per_setup[setup] = {
            "n": len(table),
            "top1": float(table[:, 0].mean()) if len(table) else None,
            "needs_review": float(table[:, 1].mean()) if len(table) else None,
            "not_a_product": float(table[:, 2].mean()) if len(table) else None,
            "original_top1": float(table[:, 3].mean()) if len(table) else None,
        }
        print(
            f"{setup:12s} n={len(table):4d} "
            + " ".join(f"{k}={v:.3f}" for k, v in per_setup[setup].items() if k != "n")
        )
    every = np.concatenate([np.array(rows[s], bool).reshape(-1, 4) for s in setups])
    payload = {
        "benchmark": "studio set-ups",
        "command": " ".join(["python", *sys.argv]),
        "bundle": str(args.bundle),
        "via": f"{args.url}/v1/classify"
        if args.url
        else "in-process: decode_image → bundle preprocessing → Predictor",
        "config": {"count": args.count, "seed": args.seed, "setups": args.setups},
        "top1": float(every[:, 0].mean()),
        "original_top1": float(every[:, 3].mean()),
        "not_a_product": float(every[:, 2].mean()),
        "per_setup": per_setup,
        "seconds": {"render": round(rendered, 1), "all": round(time.perf_counter() - start, 1)},
        "machine": machine_info(),
    }
    path = write_results(out, payload)
    _chart(per_setup, setups, path.with_suffix(".png"))
    print(f"top-1 {payload['top1']:.3f} (originals {payload['original_top1']:.3f}) → {path}")


def _chart(per_setup: dict, setups: tuple[str, ...], path: Path) -> None:
    """Bars: top-1 of the photos and of their originals, and the share called not a product, per set-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s for s in setups if per_setup[s]["n"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, (key, label) in enumerate(
        (
            ("top1", "photo top-1"),
            ("original_top1", "the garment's 28×28 original"),
            ("not_a_product", "called not a product"),
        )
    ):
        ax.bar(x + (k - 1) * 0.27, [per_setup[s][key] for s in names], 0.27, label=label)
    ax.set_xticks(x, [f"{s}\n(n={per_setup[s]['n']})" for s in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of photos")
    ax.set_title("Studio set-ups (Fashion-MNIST test garments)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
