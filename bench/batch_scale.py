"""Batch classification on this machine: the local engine against Ray Data with 1 and 2 model actors, in one run,
and the per-core throughput of each stage (decode, preprocess, model, write).

    .venv/bin/python bench/batch_scale.py                  # 10 000 Fashion-MNIST test images as PNG files
    .venv/bin/python bench/batch_scale.py --images 2000    # quicker

The model is the newest default-architecture bundle in var/models (else that architecture freshly initialised:
throughput does not depend on the weights), exported to ONNX in a temporary folder; every engine runs it on
ONNX Runtime with one thread per worker. Ray runs locally with 2 CPUs. A Ray job's wall time includes starting
its actor pool; `images_per_second_after_start` subtracts the wall time of the same job on 2×workers images
(pool start, scheduling), so it estimates the steady rate. Writes bench/results/batch_scale.json, with the load
average: on a shared machine other processes take cores too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import machine_info, write_results
from PIL import Image

from shoplens.catalog.batch import (
    ModelStage,
    PredictionsFile,
    Source,
    batch_size_of,
    read_bytes,
    source_batch,
)
from shoplens.catalog.engines import classify_batch
from shoplens.data import load_fashion_mnist
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.imaging import PreprocessConfig, decode_image, images_to_batch
from shoplens.inference.export import export_onnx
from shoplens.inference.store import LoadedModel, ModelStore, predictor_loader
from shoplens.models import create_model, save_bundle
from shoplens.training.presets import preset_config

NAME = "fashion-mnist"
PRE = PreprocessConfig(
    size=(28, 28), mode="L", resize="pad", trim=True, invert=True, mean=(0.286,), std=(0.353,)
)


def make_model(root: Path) -> LoadedModel:
    """The default architecture as an ONNX bundle under root, loaded with one ONNX Runtime thread."""
    arch = preset_config("fast").model
    path = save_bundle(
        root / NAME / "v1",
        create_model(arch, num_classes=10).eval(),
        architecture=arch,
        model_kwargs={},
        labels=list(CLASS_NAMES),
        preprocess=PRE,
        train_config={},
        data={"source": "benchmark"},
    )
    export_onnx(path)
    return ModelStore(root, NAME, loader=predictor_loader("onnxruntime", threads=1)).load("v1")


def write_images(folder: Path, n: int) -> list[Source]:
    """n Fashion-MNIST test images as PNG files (repeated past 10 000); their sources."""
    test = load_fashion_mnist("test", verify=False)
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(n):
        path = folder / f"{i:06d}.png"
        Image.fromarray(test.images[i % len(test.images), 0]).save(path)
        sources.append(Source(path.name, str(path)))
    return sources


def timed_job(model: LoadedModel, sources: list[Source], out: Path, engine: str, workers: int) -> float:
    """Seconds for one classify-batch job."""
    start = time.perf_counter()
    written = classify_batch(model, sources, out, engine=engine, workers=workers)
    seconds = time.perf_counter() - start
    assert written.rows == len(sources) and written.failed == 0
    return seconds


def stages(model: LoadedModel, sources: list[Source], out: Path) -> dict[str, float]:
    """Images per second of each stage alone, in this process on one core (ONNX Runtime with one thread)."""
    t0 = time.perf_counter()
    data = [read_bytes(s.image) for s in sources]
    images = [decode_image(d) for d in data]
    t1 = time.perf_counter()
    batch = batch_size_of(model.predictor.bundle.config)
    inputs = [images_to_batch(images[i : i + batch], model.preprocess) for i in range(0, len(images), batch)]
    t2 = time.perf_counter()
    stage = ModelStage.of(model)
    results = []
    for i, x in enumerate(inputs):
        part = source_batch(sources[i * batch : (i + 1) * batch])
        results.append(stage({**part, "input": x, "error": np.full(len(x), "", object)}))
    t3 = time.perf_counter()
    writer = PredictionsFile(out, model.predictor.bundle.labels, model.version)
    for r in results:
        writer.write(r)
    writer.close()
    t4 = time.perf_counter()
    n = len(sources)
    return {
        "decode": n / (t1 - t0),
        "preprocess": n / (t2 - t1),
        "model": n / (t3 - t2),
        "write_parquet": n / (t4 - t3),
        "all_four": n / (t4 - t0),
    }


def catalogue_ingest(model_root: Path, images: Path, n: int, data_dir: Path) -> dict[str, float]:
    """Ingest the first n images of the folder into a fresh SQLite catalogue (local engine, one model thread):
    images/s end to end, and the database and image store bytes per image."""
    from shoplens.catalog.fetch import FetchPolicy
    from shoplens.catalog.jobs import BulkIngest
    from shoplens.catalog.service import Catalog, CatalogConfig
    from shoplens.catalog.sources import rows_from_folder

    catalog = Catalog(
        CatalogConfig(data_dir=data_dir), ModelStore(model_root, NAME, loader=predictor_loader(threads=1))
    )
    rows = rows_from_folder(images, "bench", catalog.categories())[:n]
    start = time.perf_counter()
    summary = BulkIngest(catalog, FetchPolicy()).run("folder", images, rows, "bench")
    seconds = time.perf_counter() - start
    catalog.close()
    assert summary.done == len(rows), summary.errors[:3]
    db = sum(p.stat().st_size for p in data_dir.glob("*.db*"))
    stored = sum(p.stat().st_size for p in (data_dir / "images").rglob("*") if p.is_file())
    return {
        "images": len(rows),
        "images_per_second": round(len(rows) / seconds, 1),
        "database_bytes_per_image": round(db / len(rows)),
        "image_store_bytes_per_image": round(stored / len(rows)),
    }


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    import ray

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="shoplens-batch-") as tmp:
        root = Path(tmp)
        model = make_model(root / "models")
        sources = write_images(root / "images", args.images)
        load_before = [round(v, 2) for v in os.getloadavg()]
        per_core = {k: round(v, 1) for k, v in stages(model, sources, root / "stages.parquet").items()}
        print("per-core stage throughput (images/s):", per_core, flush=True)
        ingest = catalogue_ingest(root / "models", root / "images", min(2000, len(sources)), root / "catalog")
        print("catalogue ingest:", ingest, flush=True)
        runs = []
        local_s = timed_job(model, sources, root / "local.parquet", "local", 1)
        runs.append({"engine": "local", "workers": 1, "images_per_second": round(len(sources) / local_s, 1)})
        print(runs[-1], flush=True)
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - start
        try:
            for workers in (1, 2):
                small = timed_job(model, sources[: 2 * workers], root / "small.parquet", "ray", workers)
                seconds = timed_job(model, sources, root / f"ray{workers}.parquet", "ray", workers)
                runs.append(
                    {
                        "engine": "ray",
                        "workers": workers,
                        "images_per_second": round(len(sources) / seconds, 1),
                        "images_per_second_after_start": round(len(sources) / max(seconds - small, 1e-9), 1),
                        "pool_start_s": round(small, 2),
                    }
                )
                print(runs[-1], flush=True)
        finally:
            ray.shutdown()
    local = runs[0]["images_per_second"]
    results = {
        "images": len(sources),
        "image_kind": "Fashion-MNIST test images, 28×28 greyscale PNG files on local disk",
        "model": {
            "architecture": preset_config("fast").model,
            "runtime": "onnxruntime",
            "threads_per_worker": 1,
        },
        "batch_size": batch_size_of(model.predictor.bundle.config),
        "runs": runs,
        "ratios_to_local": {
            f"ray_{r['workers']}": round(r["images_per_second"] / local, 3) for r in runs[1:]
        },
        "ray_init_s": round(ray_start_s, 2),
        "catalogue_ingest_local_sqlite": ingest,
        "per_core_images_per_second": per_core,
        "load_average_before": load_before,
        "machine": machine_info(),
    }
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    write_results("batch_scale", results)


if __name__ == "__main__":
    main()
