"""Training and embedding throughput on a GPU (`--device cuda`) next to the CPU (`--device cpu`), same code paths.

Run through bench/gpu.sh on a machine with a CUDA GPU; it refuses to write bench/results/gpu.json without one
(`--devices cpu --out NAME` checks the script itself on any machine).

- training: the `fast` preset (shoplens.training.loop.train_model, augmentation, photo augmentation, outlier
  exposure and its metric loss) for `--train-images` Fashion-MNIST images, one epoch per device → images/s;
- embedding: a bundle of that model, exported to ONNX, through the Predictor the catalogue embeds with
  (`Predictor.run`: flip-TTA, calibrated probabilities, L2-normalised embeddings), batches of `--batch`, for
  the torch runtime and ONNX Runtime on each device (ONNX Runtime on CUDA needs onnxruntime-gpu) → images/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info, write_results

from shoplens.data.source import DataSource, load_data
from shoplens.errors import DeviceUnavailableError
from shoplens.inference.devices import ort_providers, torch_device
from shoplens.inference.export import export_onnx
from shoplens.inference.runtime import load_predictor
from shoplens.models import save_bundle
from shoplens.training.loop import train_model
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config


def training_rate(cfg, train, preprocess) -> tuple[dict, object]:
    """One epoch of training on cfg.device: images per second (the epoch includes warm-up), and the model."""
    result = train_model(cfg, train, None, preprocess, progress=False)
    rate = result.images_seen / result.train_seconds
    row = {
        "images": result.images_seen,
        "seconds": round(result.train_seconds, 2),
        "images_per_second": round(rate, 1),
    }
    return row, result.model


def embedding_rate(bundle: Path, runtime: str, device: str, images: np.ndarray, batch: int) -> dict:
    """Images per second through Predictor.run on this runtime and device, after one warm-up batch."""
    predictor = load_predictor(bundle, runtime=runtime, device=device)  # type: ignore[arg-type]
    predictor.run(images[:batch])
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        predictor.run(images[i : i + batch])
    seconds = time.perf_counter() - start
    return {
        "runtime": runtime,
        "device": device,
        "batch": batch,
        "images_per_second": round(len(images) / seconds, 1),
    }


def main() -> None:
    """Measure on each device and write bench/results/<out>.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cuda,cpu")
    ap.add_argument("--train-images", type=int, default=20_000)
    ap.add_argument("--embed-images", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", default="gpu")
    args = ap.parse_args()
    devices = args.devices.split(",")
    if "cuda" in devices:
        try:
            torch_device("cuda")
        except DeviceUnavailableError as e:
            raise SystemExit(f"error: {e}; nothing written") from None
    cfg = dataclasses.replace(preset_config("fast", epochs=1), time_budget=None)
    source = DataSource(verify=False)
    preprocess = preprocess_for(source, cfg)
    pool, test = load_data(source, preprocess, cfg.seed)
    train = pool.subset(np.arange(min(args.train_images, len(pool))))
    results: dict = {"machine": machine_info(), "setup": vars(args), "training": {}, "embedding": []}
    for device in devices:
        row, model = training_rate(dataclasses.replace(cfg, device=device), train, preprocess)
        results["training"][device] = row
        print("training", device, row, flush=True)
    with tempfile.TemporaryDirectory(prefix="shoplens-gpu-") as tmp:
        bundle = Path(tmp) / "bundle"
        save_bundle(
            bundle,
            model,
            architecture=cfg.model,
            model_kwargs=cfg.model_kwargs,
            labels=pool.class_names,
            preprocess=preprocess,
            train_config=cfg.to_dict(),
            data=source.record(),
            tta_flip=cfg.tta_flip,
        )
        export_onnx(bundle)
        images = np.resize(test.images, (args.embed_images, *test.images.shape[1:]))
        for device in devices:
            for runtime in ("torch", "onnxruntime"):
                try:
                    if runtime == "onnxruntime":
                        ort_providers(device)
                    row = embedding_rate(bundle, runtime, device, images, args.batch)
                except DeviceUnavailableError as e:
                    row = {"runtime": runtime, "device": device, "unavailable": str(e)}
                results["embedding"].append(row)
                print("embedding", row, flush=True)
    if "cuda" in devices and "cpu" in devices:
        cpu, cuda = results["training"]["cpu"], results["training"]["cuda"]
        results["training_speedup"] = round(cuda["images_per_second"] / cpu["images_per_second"], 2)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
