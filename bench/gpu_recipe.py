"""The `fast` preset's whole recipe trained on one device: does a GPU-trained model match a CPU-trained one?

    SHOPLENS_DATA_DIR=… python bench/gpu_recipe.py cuda cpu     # → bench/results/gpu_recipe.json

What `shoplens train --preset fast` trains (same split, seed, epochs, augmentation, photo looks, non-products,
validation after every epoch), then Fashion-MNIST test top-1 with the mirror TTA, for each device named, one
after the other in one process. Batches are prepared on the training device from the same CPU random draws,
so the two runs differ only by the devices' arithmetic.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from common import machine_info, write_results

from shoplens.data import stratified_split
from shoplens.data.source import DataSource, load_data
from shoplens.inference.devices import torch_device
from shoplens.training.loop import predict_logits, train_model
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config


def main() -> None:
    """Train on each device and write bench/results/<out>.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("devices", nargs="+", choices=("cpu", "cuda"))
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    ap.add_argument("--out", default="gpu_recipe")
    args = ap.parse_args()
    for device in args.devices:
        torch_device(device)  # refuses cuda without a GPU before any work
    cfg = preset_config("fast")
    cfg = dataclasses.replace(cfg, epochs=args.epochs or cfg.epochs)
    source = DataSource(verify=False)
    preprocess = preprocess_for(source, cfg)
    pool, test = load_data(source, preprocess, cfg.seed)
    train_idx, val_idx = stratified_split(pool.labels, cfg.val_fraction, seed=cfg.seed)
    runs = []
    for device in args.devices:
        start = time.perf_counter()
        result = train_model(
            dataclasses.replace(cfg, device=device),
            pool.subset(train_idx),
            pool.subset(val_idx),
            preprocess,
            progress=False,
        )
        seconds = time.perf_counter() - start
        logits = predict_logits(result.model, test.images, preprocess, cfg.tta_flip)
        run = {
            "device": device,
            "epochs": len(result.history),
            "precision": result.precision,
            "train_seconds": round(seconds, 1),
            "val_acc": [round(h["val_acc"], 4) for h in result.history],
            "test_top1": round(float((logits.argmax(1) == test.labels).mean()), 4),
        }
        runs.append(run)
        print(run, flush=True)
    write_results(args.out, {"machine": machine_info(), "preset": "fast", "runs": runs})


if __name__ == "__main__":
    main()
