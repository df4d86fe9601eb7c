"""Training and embedding throughput on a GPU (`--device cuda`) next to the CPU (`--device cpu`), same code paths.

Run through bench/gpu.sh on a machine with a CUDA GPU; it refuses to write bench/results/gpu.json without one
(`--devices cpu --out NAME` checks the script itself on any machine).

- training: the `fast` preset (shoplens.training.loop.train_model, augmentation, photo augmentation, outlier
  exposure and its metric loss) for `--train-images` Fashion-MNIST images, one epoch per device after a few
  untimed warm-up steps → images/s (batches are prepared where the model trains: on the GPU with cuda);
  the same epoch again without that preparation (no augmentation, photo look or synthetic non-products), to
  show how much of a step it costs;
- embedding: a bundle of that model, exported to ONNX, through the Predictor the catalogue embeds with
  (`Predictor.run`: flip-TTA, calibrated probabilities, L2-normalised embeddings), batches of `--batch`, for
  the torch runtime and ONNX Runtime on each device (ONNX Runtime on CUDA needs onnxruntime-gpu) → images/s;
- backbone: a full-size ViT-B/32 CLIP image tower (transformers' default CLIPConfig = openai/clip-vit-base-patch32's
  shapes, random weights, which cost what trained ones cost) — the module `shoplens backbone import` exports —
  in torch on each device, fp32 and (where the device multiplies bf16 in hardware) bf16 autocast → images/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info, write_results

from shoplens.data.source import DataSource, load_data
from shoplens.errors import DeviceUnavailableError
from shoplens.imaging.augment import AugmentConfig
from shoplens.inference.devices import ort_providers, torch_device
from shoplens.inference.export import export_onnx
from shoplens.inference.runtime import load_predictor
from shoplens.models import save_bundle
from shoplens.training.loop import autocast_dtype, train_model
from shoplens.training.photo_augment import PhotoAugmentConfig
from shoplens.training.pipeline import preprocess_for
from shoplens.training.presets import preset_config


def training_rate(cfg, train, preprocess) -> tuple[dict, object]:
    """One epoch of training on cfg.device: images per second, and the model.

    A few steps on the same device run first and are not timed: CUDA's context, cuBLAS and cuDNN start on the
    first step, which would otherwise be charged to whichever configuration is measured first.
    """
    train_model(
        cfg, train.subset(np.arange(min(len(train), 8 * cfg.batch_size))), None, preprocess, progress=False
    )
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


def backbone_rate(device: str, dtype: str, batch: int, batches: int) -> dict:
    """Images per second of a full-size ViT-B/32 CLIP image tower in torch, after two warm-up batches."""
    from transformers import CLIPConfig, CLIPModel

    from shoplens.backbones.export import ImageTower

    tower = ImageTower(CLIPModel(CLIPConfig())).eval().to(device)
    pixels = torch.randn(batch, 3, 224, 224, device=device)
    cast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16")
    with torch.inference_mode(), cast:
        for _ in range(2):
            tower(pixels)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(batches):
            tower(pixels)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return {
        "model": "ViT-B/32 CLIP image tower",
        "device": device,
        "dtype": dtype,
        "batch": batch,
        "images_per_second": round(batch * batches / seconds, 1),
    }


def main() -> None:
    """Measure on each device and write bench/results/<out>.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cuda,cpu")
    ap.add_argument("--train-images", type=int, default=20_000)
    ap.add_argument("--embed-images", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--backbone-batches", type=int, default=8, help="0 skips the CLIP image tower")
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
    import onnxruntime

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    versions = {"onnxruntime": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    results: dict = {
        "machine": {**machine_info(), "gpu": gpu, **versions},
        "setup": vars(args),
        "training": {},
        "embedding": [],
    }
    # The same epoch without the batch preparation (augmentation, photo look, synthetic non-products): how much
    # of a step it costs next to the model's forward and backward passes.
    plain = dataclasses.replace(
        cfg, augment=AugmentConfig(), photo_augment=PhotoAugmentConfig(probability=0.0), outlier_share=0.0
    )
    results["training_without_augmentation"] = {}
    for device in devices:
        row, model = training_rate(dataclasses.replace(cfg, device=device), train, preprocess)
        results["training"][device] = row
        print("training", device, row, flush=True)
        bare, _ = training_rate(dataclasses.replace(plain, device=device), train, preprocess)
        results["training_without_augmentation"][device] = bare
        print("training without augmentation", device, bare, flush=True)
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
    results["backbone"] = []
    for device in devices if args.backbone_batches else ():
        fast_bf16 = autocast_dtype("auto", torch.device(device)) is not None
        for dtype in ("fp32", "bf16") if fast_bf16 else ("fp32",):
            batch = 256 if device == "cuda" else 32
            row = backbone_rate(device, dtype, batch, args.backbone_batches)
            results["backbone"].append(row)
            print("backbone", row, flush=True)
    if "cuda" in devices and "cpu" in devices:
        cpu, cuda = results["training"]["cpu"], results["training"]["cuda"]
        results["training_speedup"] = round(cuda["images_per_second"] / cpu["images_per_second"], 2)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
