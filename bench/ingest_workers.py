"""Bulk ingestion with images prepared in this process against worker processes, paired, in one run.

    chrt -f 10 .venv/bin/python bench/ingest_workers.py                     # 10k demo catalogue, 1 vs 2, 2 rounds
    .venv/bin/python bench/ingest_workers.py --products 2000 --rounds 3 --workers 1 2 3

Each round ingests the demo catalogue (Fashion-MNIST test images, as bench/catalog.py builds it) into a fresh
catalogue with the active model of var/models once per --workers value, in turn, through `BulkIngest` (the code
of `shoplens ingest`); the pool's start-up is inside the timing. Checks that every setting stored the same
categories. Writes bench/results/ingest_workers.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, mean_std, write_results
from sqlalchemy import select

from shoplens.catalog.demo import DemoConfig, write_demo_catalog
from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import rows_from_csv
from shoplens.data import load_fashion_mnist
from shoplens.db.catalog import Product, ProductImage
from shoplens.inference.store import ModelStore


def ingest_once(models: ModelStore, manifest: Path, workers: int) -> tuple[float, int, list[tuple]]:
    """(seconds, worker processes used, (sku, category, confidence) stored) of one ingestion into a new catalogue."""
    with tempfile.TemporaryDirectory(prefix="shoplens-ingest-") as tmp:
        catalog = Catalog(CatalogConfig(data_dir=Path(tmp) / "catalog"), models)
        catalog.model()  # loaded before the clock starts, as a server or a re-run has it
        rows = rows_from_csv(manifest, "default", merchant_column=True)
        job = BulkIngest(catalog, workers=workers)
        start = time.perf_counter()
        summary = job.run("csv", manifest, rows, "default")
        seconds = time.perf_counter() - start
        assert summary.failed == 0, summary.errors[:5]
        with catalog.sessions() as session:
            stored = session.execute(
                select(Product.sku, ProductImage.predicted_category, ProductImage.confidence)
                .join(ProductImage, ProductImage.product_id == Product.id)
                .order_by(Product.merchant_id, Product.sku)
            ).all()
        catalog.close()
    return seconds, job.processes, [tuple(r) for r in stored]


def main() -> None:
    """Ingest the demo catalogue with each worker setting in turn, rounds times; write the paired result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models-dir", default="var/models")
    parser.add_argument("--out", default="ingest_workers")
    args = parser.parse_args()
    models = ModelStore(args.models_dir, "fashion-mnist")
    if models.active_version() is None:
        parser.exit(2, f"bench/ingest_workers.py: no active model in {args.models_dir}\n")
    test = load_fashion_mnist("test", verify=False)
    runs: list[dict] = []
    stored: dict[int, list[tuple]] = {}
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as tmp:
        manifest = write_demo_catalog(
            test.images,
            test.labels,
            list(test.class_names),
            Path(tmp) / "src",
            DemoConfig(products=args.products),
        )
        images = sum(1 for _ in manifest.open()) - 1
        for rnd in range(args.rounds):
            for workers in args.workers:
                seconds, processes, rows = ingest_once(models, manifest, workers)
                stored.setdefault(workers, rows)
                runs.append(
                    {
                        "round": rnd,
                        "workers": workers,
                        "processes": processes,
                        "seconds": round(seconds, 2),
                        "images_per_second": round(images / seconds, 1),
                    }
                )
                print(runs[-1], flush=True)
    base = args.workers[0]
    summary = {
        str(w): {
            "images_per_second": mean_std([r["images_per_second"] for r in runs if r["workers"] == w]),
            "ratio_to_first": round(
                sum(r["images_per_second"] for r in runs if r["workers"] == w)
                / sum(r["images_per_second"] for r in runs if r["workers"] == base),
                3,
            ),
            "same_categories_as_first": stored[w] == stored[base],
        }
        for w in args.workers
    }
    payload = {
        "benchmark": "ingest_workers",
        "command": "python bench/ingest_workers.py " + " ".join(sys.argv[1:]),
        "model_version": models.active_version(),
        "images": images,
        "runs": runs,
        "summary": summary,
        "machine": machine_info(),
    }
    path = write_results(args.out, payload)
    print(path, {w: s["ratio_to_first"] for w, s in summary.items()})


if __name__ == "__main__":
    main()
