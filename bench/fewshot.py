"""Few-shot new categories on a ShopLens backbone: train on 8 Fashion-MNIST classes, add the 2 held back with k each.

1. A `fast`-preset shopnet is trained on the 8 old classes only (the preset's 8 epochs, or a time budget
   `--budget`), as `shoplens train` would; its old-class test accuracy is the "full model" reference.
2. Its penultimate features are the frozen encoder (shoplens.backbones.fewshot.FrozenEncoder, as
   `shoplens train --backbone` uses it). A 10-class head (shoplens.training.fewshot.fit_head: balanced
   multinomial logistic regression) is fitted on `--old-per-class` training embeddings of each old class plus k of
   each new class, for each k and seed.
3. Test accuracy (10-way) on the new classes' test photos and on the old classes' test photos.

    .venv/bin/python bench/fewshot.py            # → bench/results/fewshot.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info, mean_std, write_results

from shoplens.backbones.fewshot import FrozenEncoder
from shoplens.data import load_fashion_mnist
from shoplens.data.dataset import ImageDataset
from shoplens.data.source import DataSource
from shoplens.data.split import stratified_split
from shoplens.models import save_bundle
from shoplens.training.fewshot import fit_head
from shoplens.training.loop import train_model
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config

CHUNK = 2048


def only(ds: ImageDataset, classes: list[int]) -> ImageDataset:
    """The rows of these classes, relabelled 0..len(classes)-1 in the given order."""
    keep = np.isin(ds.labels, classes)
    remap = {c: i for i, c in enumerate(classes)}
    labels = np.array([remap[int(v)] for v in ds.labels[keep]], np.int64)
    return ImageDataset(ds.images[keep], labels, [ds.class_names[c] for c in classes], source=ds.source)


def embed(encoder: FrozenEncoder, images: np.ndarray) -> np.ndarray:
    """Unit embeddings of model-ready uint8 images, a chunk at a time."""
    return np.concatenate([encoder.embed(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)])


def main() -> None:
    """Run the benchmark and write bench/results/fewshot.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", default="8,9", help="Class indices held back (default: Bag, Ankle boot).")
    ap.add_argument("--ks", default="5,20,50")
    ap.add_argument("--seeds", type=int, default=5, help="Draws of the k examples per k.")
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="Seconds of training for the 8-class model (default: the preset's epochs, the same work however busy "
        "the machine is; a budget also bends the LR schedule to the time taken).",
    )
    ap.add_argument(
        "--old-per-class",
        type=int,
        default=0,
        help="Old-class training embeddings per class (default 0: every one the training split has).",
    )
    ap.add_argument("--c", type=float, default=10.0, help="Inverse L2 strength of the head.")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument(
        "--precision", default=None, help="The 8-class model's precision (default: the preset's)."
    )
    ap.add_argument("--model", default=None, help="The 8-class model's architecture (default: the preset's).")
    ap.add_argument("--base-seed", type=int, default=0, help="Seed of the 8-class model's training.")
    ap.add_argument("--out", default="fewshot")
    args = ap.parse_args()
    held = [int(v) for v in args.held_out.split(",")]
    ks = [int(v) for v in args.ks.split(",")]
    pool, test = load_fashion_mnist("train", args.data_dir), load_fashion_mnist("test", args.data_dir)
    old = [c for c in range(len(pool.class_names)) if c not in held]
    order = old + held  # the 10-class head's label order: old classes first

    cfg = preset_config(
        "fast", time_budget=args.budget, seed=args.base_seed, precision=args.precision, model=args.model
    )
    preprocess = preprocess_for(DataSource(), cfg)
    old_pool = only(pool, old)
    train_idx, val_idx = stratified_split(old_pool.labels, cfg.val_fraction, seed=0)
    start = time.perf_counter()
    result = train_model(
        cfg, old_pool.subset(train_idx), old_pool.subset(val_idx), preprocess, progress=False
    )
    train_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        bundle = save_bundle(
            Path(tmp) / "fewshot-base" / "v1",
            result.model,
            architecture=cfg.model,
            model_kwargs=cfg.model_kwargs,
            labels=old_pool.class_names,
            preprocess=preprocess,
            train_config=cfg.to_dict(),
            data={"source": "fashion-mnist", "classes": old_pool.class_names},
        )
        encoder = FrozenEncoder(bundle)
        test10 = only(test, order)
        is_old = test10.labels < len(old)
        full_old = encoder.predictor.run(test10.images[is_old])[0].argmax(axis=1)
        full_model_old = float((full_old == test10.labels[is_old]).mean())
        start = time.perf_counter()
        train10 = only(pool, order)
        x_train, x_test = embed(encoder, train10.images), embed(encoder, test10.images)
        embed_seconds = time.perf_counter() - start

    runs = []
    for k in ks:
        new_acc, old_acc, fit_seconds = [], [], []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            picks = [
                rng.choice(
                    np.flatnonzero(train10.labels == c),
                    (args.old_per_class or int((train10.labels == c).sum())) if c < len(old) else k,
                    replace=False,
                )
                for c in range(len(order))
            ]
            idx = np.concatenate(picks)
            start = time.perf_counter()
            weights, bias = fit_head(x_train[idx], train10.labels[idx], c=args.c, seed=seed)
            fit_seconds.append(time.perf_counter() - start)
            pred = (x_test @ weights.T + bias).argmax(axis=1)
            hit = pred == test10.labels
            new_acc.append(float(hit[~is_old].mean()))
            old_acc.append(float(hit[is_old].mean()))
        runs.append(
            {
                "k": k,
                "new_class_top1": round(float(np.mean(new_acc)), 4),
                "old_class_top1": round(float(np.mean(old_acc)), 4),
                "full_model_old_class_top1": round(full_model_old, 4),
                "new_class_top1_over_seeds": mean_std(new_acc),
                "old_class_top1_over_seeds": mean_std(old_acc),
                "head_fit_seconds": mean_std(fit_seconds),
            }
        )
        print(
            f"k={k}: new {runs[-1]['new_class_top1']:.4f}, old {runs[-1]['old_class_top1']:.4f} "
            f"(8-class model {full_model_old:.4f})"
        )
    payload = {
        "benchmark": "few-shot new categories on a frozen ShopLens backbone",
        "held_out": [pool.class_names[c] for c in held],
        "old_classes": [pool.class_names[c] for c in old],
        "base_model": {
            "preset": "fast",
            "model": cfg.model,
            "budget_s": args.budget,
            "train_seconds": round(train_seconds, 1),
            "epochs": len(result.history),
            "precision": result.precision,
            "seed": args.base_seed,
        },
        "head": {
            "kind": "multinomial logistic regression, balanced class weights",
            "c": args.c,
            "old_per_class": args.old_per_class or "all",
            "seeds": args.seeds,
        },
        "embedding_seconds_70k_images": round(embed_seconds, 1),
        "runs": runs,
        "machine": machine_info(),
    }
    print(write_results(args.out, payload))


if __name__ == "__main__":
    main()
