"""Photo share: a preset trained with photo looks on different shares of each batch, paired, over seeds.

    .venv/bin/python bench/photo_share.py                                  # fast, shares 0.5 0.4, seeds 0 1
    .venv/bin/python bench/photo_share.py --shares 0.5 0.4 0.3 --seeds 0 1 2 --out photo_share_3

Each run trains the preset (only `photo_augment.probability` changed) on the same training split with
`train_model`, then scores, with the mirror TTA: the validation split and 1,200 training-side renders of
validation garments (`training/photo_synth.py`, the detector's calibration renderer) — the selection set —
and, to report, the Fashion-MNIST test set and the photo benchmark's shop and light-on-dark photos. Every
photo is read once, before the runs. Writes bench/results/NAME.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, mean_std, write_results

from shoplens.data import ImageDataset, stratified_split
from shoplens.data.shop_photos import light_on_dark_photos, shop_photos
from shoplens.data.source import DataSource, load_data
from shoplens.data.stream import in_memory
from shoplens.evaluation.photos import PhotoBenchConfig
from shoplens.imaging import PreprocessConfig
from shoplens.training.loop import predict_logits, train_model
from shoplens.training.ood_fit import calibration_photos, read_photos
from shoplens.training.photo_augment import PhotoAugmentConfig
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config

RENDERS = 1200  # training-side renders of validation garments in the selection set
RENDER_SEED = 11


def read_set(photos, preprocess: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """Encoded benchmark photos (an iterable, read once) read through the serving path: (inputs, labels)."""
    photos = list(photos)
    read = read_photos(
        [photo.data for photo in photos], preprocess, [photo.meta["label"] for photo in photos]
    )
    return read.arrays, read.labels


def scoring_sets(
    preset: str,
) -> tuple[Any, ImageDataset, PreprocessConfig, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The preset's training and validation splits, its preprocessing, and every set a run is scored on."""
    base = preset_config(preset)
    source = DataSource(kind="fashion-mnist")
    preprocess = preprocess_for(source, base)
    pool, test = load_data(source, preprocess, base.seed)
    train_idx, val_idx = stratified_split(pool.labels, base.val_fraction, seed=base.seed)  # one split for all
    train, val, test = pool.subset(train_idx), in_memory(pool.subset(val_idx)), in_memory(test)
    bench = PhotoBenchConfig(seed=0)
    products, _ = calibration_photos(val.images, val.labels, preprocess, RENDERS, seed=RENDER_SEED)
    sets = {
        "validation": (val.images, val.labels),
        "training_side_renders": (products.arrays, products.labels),
        "fashion_mnist_test": (test.images, test.labels),
        "shop_photos": read_set(
            shop_photos(test.images[:, 0], test.labels, bench.shop, bench.seed), preprocess
        ),
        "light_on_dark": read_set(
            light_on_dark_photos(test.images[:, 0], test.labels, bench.light_on_dark, bench.seed), preprocess
        ),
    }
    return train, val, preprocess, sets


def top1(model, x: np.ndarray, y: np.ndarray, preprocess: PreprocessConfig) -> float:
    """Share of images whose mirror-averaged top class is their label."""
    logits = predict_logits(model, x, preprocess, tta_flip=True)
    return round(float((logits.argmax(1) == y).mean()), 4)


def main() -> None:
    """Read the photo sets once, train one run per (share, seed), score and write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5, 0.4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", default="photo_share")
    args = parser.parse_args()

    start = time.perf_counter()
    train, val, preprocess, sets = scoring_sets(args.preset)
    print(f"photo sets read in {time.perf_counter() - start:.0f} s", flush=True)

    runs = []
    for share in args.shares:
        for seed in args.seeds:
            cfg = preset_config(args.preset, seed=seed, photo_augment=PhotoAugmentConfig(probability=share))
            t0 = time.perf_counter()
            result = train_model(cfg, train, val, preprocess, progress=False)
            seconds = time.perf_counter() - t0
            row = {"share": share, "seed": seed, "epochs": len(result.history), "seconds": round(seconds, 1)}
            row.update({name: top1(result.model, x, y, preprocess) for name, (x, y) in sets.items()})
            runs.append(row)
            print(row, flush=True)

    summary = {
        str(share): {name: mean_std([r[name] for r in runs if r["share"] == share]) for name in sets}
        for share in args.shares
    }
    payload = {
        "benchmark": "photo_share",
        "command": "python bench/photo_share.py " + " ".join(sys.argv[1:]),
        "preset": args.preset,
        "selection_set": ["validation", "training_side_renders"],
        "counts": {name: len(y) for name, (_, y) in sets.items()},
        "runs": runs,
        "summary": summary,
        "machine": machine_info(),
    }
    print(write_results(args.out, payload))


if __name__ == "__main__":
    main()
