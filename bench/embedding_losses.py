"""Which metric-learning loss makes the best search embedding: short `fast`-preset runs, one per loss.

Each run trains the `fast` preset (its augmentation, photo augmentation and outlier exposure) with one metric
loss added to the cross-entropy (shoplens.training.metric_loss), for `--epochs` epochs on `--train-size`
Fashion-MNIST training images, fits the temperature on the validation split, and scores the held-out test set:
top-1 accuracy, and same-category precision@10 / mAP of nearest neighbours (each test image querying the other
9,999) for the image features alone and for the catalogue's search vector (features joined to the calibrated
category distribution, `Predictor.search_vectors`), both with flip-TTA as the bundle serves them.

    .venv/bin/python bench/embedding_losses.py                      # → bench/results/embedding_losses.json
    .venv/bin/python bench/embedding_losses.py --losses none,supcon --epochs 2 --train-size 20000
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from common import machine_info, write_results

from shoplens.catalog.evaluate import retrieval_metrics
from shoplens.data.source import DataSource, load_data
from shoplens.data.split import stratified_split
from shoplens.inference.predictor import forward, l2_normalize, softmax
from shoplens.inference.torch_session import TorchSession
from shoplens.training.evaluate import calibrate
from shoplens.training.loop import train_model
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config

CHUNK = 2000


def score(model, test, preprocess, tta_flip: bool, temperature: float) -> dict[str, float]:
    """Top-1 and retrieval quality of a trained model on the test set, as the catalogue would search it."""
    session = TorchSession(model.eval())
    outs = [
        forward(session, test.images[i : i + CHUNK], preprocess, tta_flip) for i in range(0, len(test), CHUNK)
    ]
    logits = np.concatenate([o[0] for o in outs])
    feats = l2_normalize(np.concatenate([o[1] for o in outs]))
    probs = softmax(logits, temperature)
    search = l2_normalize(np.concatenate([feats, probs], axis=1)).astype(np.float32)
    features_only = retrieval_metrics(feats.astype(np.float32), test.labels)
    joined = retrieval_metrics(search, test.labels)
    return {
        "top1": float((logits.argmax(1) == test.labels).mean()),
        "precision_at_10": float(joined["precision_at_10"]),
        "map": joined["map"],
        "features_precision_at_10": float(features_only["precision_at_10"]),
        "features_map": features_only["map"],
    }


def main() -> None:
    """Train once per loss and write bench/results/<out>.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--losses", default="none,supcon,cosface,proxy_anchor")
    ap.add_argument("--weights", default="1.0", help="Metric-loss weights to try (comma-separated).")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-size", type=int, default=0, help="Training images (0: all of the split).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="embedding_losses")
    args = ap.parse_args()
    base = preset_config(args.preset, epochs=args.epochs, seed=args.seed)
    base = dataclasses.replace(base, time_budget=None)  # epochs, not the clock, end every run alike
    source = DataSource(verify=False)
    preprocess = preprocess_for(source, base)
    pool, test = load_data(source, preprocess, base.seed)
    train_idx, val_idx = stratified_split(pool.labels, base.val_fraction, seed=base.seed)
    if args.train_size:
        rng = np.random.default_rng(args.seed)
        train_idx = np.sort(rng.choice(train_idx, min(args.train_size, len(train_idx)), replace=False))
    train, val = pool.subset(train_idx), pool.subset(val_idx)
    runs: list[dict] = []
    setup = {
        "preset": args.preset,
        "model": base.model,
        "epochs": args.epochs,
        "train_images": len(train),
        "test_images": len(test),
        "seed": args.seed,
        "k": 10,
    }
    for name in args.losses.split(","):
        for weight in [float(w) for w in args.weights.split(",")] if name != "none" else [0.0]:
            cfg = dataclasses.replace(base, metric_loss=name, metric_weight=weight)
            start = time.perf_counter()
            result = train_model(cfg, train, val, preprocess, progress=False)
            seconds = time.perf_counter() - start
            cal = calibrate(result.model, val, preprocess, cfg.tta_flip, cfg.review_target_accuracy)
            row = {
                "metric_loss": name,
                "metric_weight": weight,
                **score(result.model, test, preprocess, cfg.tta_flip, cal.temperature),
                "train_seconds": round(seconds, 1),
            }
            print(row, flush=True)
            runs.append(row)
            write_results(args.out, {"machine": machine_info(), "setup": setup, "runs": runs})


if __name__ == "__main__":
    main()
