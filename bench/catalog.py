"""Catalogue benchmark: ingestion throughput, search quality, mismatch and duplicate detection, search latency.

    .venv/bin/python bench/catalog.py            # 10k demo catalogue + 1M synthetic vectors (≈ 6 min)
    .venv/bin/python bench/catalog.py --quick    # 2k products, 100k vectors
    .venv/bin/python bench/catalog.py --milvus-only   # only the Milvus entry (100k vectors), the rest kept
    .venv/bin/python bench/catalog.py --keep-synthetic   # a new model: its rows re-measured, the synthetic kept

Builds the demo catalogue (Fashion-MNIST test images, seeded wrong categories and near-duplicates) in a
temporary folder with the active model of var/models, ingests it end to end from local files through the
same code as `shoplens ingest` (its default of 2 worker processes; --workers 1: all in this process), and
scores it against the seeded truth. Writes bench/results/catalog.json and catalog.png. The "milvus" entry
times Milvus (milvus-lite unless --milvus-uri names a server) next to
faiss on the same 100k synthetic vectors and queries.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results

from shoplens.catalog.demo import DemoConfig, write_demo_catalog
from shoplens.catalog.evaluate import (
    as_pairs,
    duplicate_pairs,
    flagged_mismatches,
    precision_recall,
    retrieval_metrics,
    vectors_by_sku,
)
from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import rows_from_csv
from shoplens.data import load_fashion_mnist
from shoplens.inference.store import ModelStore
from shoplens.search.benchmark import measure_latency, measure_milvus, time_queries
from shoplens.search.index import FaissIndex


def latency_on(
    vectors: np.ndarray, queries: np.ndarray, method: str, **params: int
) -> tuple[dict, np.ndarray]:
    """p50/p99 of single-query search over real vectors, and the ids found."""
    index = FaissIndex(vectors.shape[1], method, **params)
    if method == "ivf":
        index.train(vectors)
    index.add(np.arange(len(vectors), dtype=np.int64), vectors)
    ms, found = time_queries(index, queries, 10)
    entry = {
        "vectors": len(vectors),
        "method": "exact" if method == "exact" else "approx",
        "index": index.description,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }
    return entry, found


def plot(results: dict, path: Path) -> None:
    """Bars of the quality scores against their targets, and search latency by catalogue size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    keys = [
        "precision_at_10",
        "map",
        "mismatch_precision",
        "mismatch_recall",
        "duplicate_precision",
        "duplicate_recall",
    ]
    targets = [0.93, None, 0.8, 0.8, 0.95, 0.9]
    a.bar(range(len(keys)), [results[k] for k in keys], color="#4C72B0")
    for i, t in enumerate(targets):
        if t is not None:
            a.hlines(t, i - 0.4, i + 0.4, colors="crimson", linestyles="--")
    a.set_xticks(range(len(keys)), [k.replace("_", "\n") for k in keys], fontsize=8)
    a.set_ylim(0, 1.05)
    a.set_title("Catalogue quality (red: target)")
    for method, marker in (("exact", "o"), ("approx", "s")):
        pts = sorted((e["vectors"], e["p50_ms"]) for e in results["latency"] if e["method"] == method)
        b.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=f"{method} p50")
    b.axhline(2.0, color="crimson", linestyle="--", label="target 2 ms")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("vectors")
    b.set_ylabel("ms per query")
    b.legend()
    b.set_title("Search latency (one query at a time)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


MILVUS_VECTORS = 100_000
LITE_NOTE = (
    "milvus-lite is a single-process stand-in speaking Milvus' protocol: pure Python, run inside this "
    "benchmark's process and reached over gRPC on loopback; its latency is not a Milvus cluster's"
)


def milvus_entry(dim: int, uri: str | None, method: str) -> dict[str, Any]:
    """Milvus at 100k synthetic vectors, and faiss (exact and its approximate default) on the same ones, with
    one faiss thread as the server searches (milvus-lite's faiss shares this process and its thread setting)."""
    with tempfile.TemporaryDirectory(prefix="shoplens-milvus-") as tmp:
        row = measure_milvus(
            MILVUS_VECTORS, dim, uri or str(Path(tmp) / "bench.db"), method, threads=1, progress=True
        )
        if uri is None:
            from shoplens.search.milvus import release

            release(str(Path(tmp) / "bench.db"))
    faiss_rows = measure_latency(MILVUS_VECTORS, dim, threads=1, progress=True)
    return {**row, **({"note": LITE_NOTE} if uri is None else {}), "faiss_same_vectors": faiss_rows}


def update_milvus_only(args: argparse.Namespace) -> None:
    """Measure the Milvus entry and put it into the existing results, every other key kept."""
    name = args.out or "catalog"
    path = RESULTS / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    dims = [r["dim"] for r in results.get("latency", []) if "dim" in r]
    results["milvus"] = milvus_entry(dims[0] if dims else 138, args.milvus_uri, args.milvus_method)
    results["milvus"]["machine"] = machine_info()
    print(json.dumps(results["milvus"], indent=2))
    write_results(name, results)


def synthetic_rows(path: Path, dim: int) -> dict[str, Any]:
    """The synthetic-vector latency rows and the Milvus entry of earlier results, if measured at this width."""
    results = json.loads(path.read_text()) if path.exists() else {}
    rows = [r for r in results.get("latency", []) if "dim" in r]  # only synthetic rows record their width
    if any(r["dim"] != dim for r in rows) or results.get("milvus", {}).get("dim", dim) != dim:
        raise SystemExit(f"{path}: synthetic rows of another width than {dim}; measure them again")
    return {k: v for k, v in (("latency", rows), ("milvus", results.get("milvus"))) if v}


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2k products and 100k synthetic vectors")
    parser.add_argument("--models-dir", default="var/models")
    parser.add_argument("--name", default="fashion-mnist")
    parser.add_argument("--out", default=None, help="results name (default: catalog, or catalog_quick)")
    parser.add_argument(
        "--skip-1m", action="store_true", help="leave out the synthetic large-scale latency rows"
    )
    parser.add_argument(
        "--milvus-only", action="store_true", help="measure only the Milvus entry and update it in place"
    )
    parser.add_argument(
        "--milvus-uri", default=None, help="a Milvus server (default: milvus-lite, temporary)"
    )
    parser.add_argument("--milvus-method", default="hnsw", choices=("exact", "hnsw", "ivf"))
    parser.add_argument(
        "--workers", type=int, default=2, help="ingestion's worker processes, as `shoplens ingest --workers`"
    )
    parser.add_argument(
        "--keep-synthetic",
        action="store_true",
        help="keep the existing results' synthetic-vector rows (1M latency, Milvus), which no model changes",
    )
    args = parser.parse_args()
    if args.milvus_only:
        update_milvus_only(args)
        return
    products, big = (2000, 100_000) if args.quick else (10_000, 1_000_000)
    models = ModelStore(args.models_dir, args.name)
    if models.active_version() is None:  # said before 10,000 files are written, not as a traceback
        parser.exit(
            2,
            f"bench/catalog.py: no active version of {args.name!r} in {args.models_dir}: "
            "activate one (shoplens models activate VERSION --models-dir DIR)\n",
        )
    test = load_fashion_mnist("test", verify=False)
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as tmp:
        root = Path(tmp)
        manifest = write_demo_catalog(
            test.images, test.labels, list(test.class_names), root / "src", DemoConfig(products=products)
        )
        truth = json.loads((root / "src" / "truth.json").read_text())
        true_label = {
            f"{r['merchant']}/{r['sku']}": r["true_category"] for r in csv.DictReader(manifest.open())
        }
        catalog = Catalog(CatalogConfig(data_dir=root / "catalog"), models)
        version = catalog.model().version
        rows = rows_from_csv(manifest, "default", merchant_column=True)  # the demo has 20 merchants
        start = time.perf_counter()
        job = BulkIngest(catalog, workers=args.workers)
        summary = job.run("csv", manifest, rows, "default")
        ingest_s = time.perf_counter() - start
        assert summary.failed == 0, summary.errors[:5]
        with catalog.sessions() as session:
            keys, vectors = vectors_by_sku(session, version)
            mismatch_p, mismatch_r = precision_recall(
                flagged_mismatches(session), set(truth["wrong_category"])
            )
            dup_p, dup_r = precision_recall(duplicate_pairs(session), as_pairs(truth["duplicates"]))
        originals = np.array([not k.endswith("-R") for k in keys])
        names = sorted(set(true_label.values()))
        labels = np.array([names.index(true_label[k]) for k in keys])
        quality = retrieval_metrics(vectors[originals], labels[originals])
        rng = np.random.default_rng(0)
        queries = vectors[rng.choice(len(vectors), 500, replace=False)]
        exact, truth_ids = latency_on(vectors, queries, "exact")
        approx, found = latency_on(vectors, queries, "ivf", nlist=64, nprobe=8)
        approx["recall_at_10"] = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth_ids)]))
        exact["recall_at_10"] = 1.0
        catalog.close()
    name = args.out or ("catalog_quick" if args.quick else "catalog")
    kept = synthetic_rows(RESULTS / f"{name}.json", vectors.shape[1]) if args.keep_synthetic else {}
    if "latency" in kept or args.skip_1m:
        synthetic = kept.get("latency", [])
    else:
        synthetic = measure_latency(big, vectors.shape[1], progress=True)
    latency = [exact, approx, *synthetic]
    results = {
        "machine": machine_info(),
        "model_version": version,
        "products": len(rows),
        **quality,
        "mismatch_precision": mismatch_p,
        "mismatch_recall": mismatch_r,
        "duplicate_precision": dup_p,
        "duplicate_recall": dup_r,
        "seeded": {"wrong_category": len(truth["wrong_category"]), "duplicates": len(truth["duplicates"])},
        "ingest_images_per_second": len(rows) / ingest_s,
        "ingest_workers": job.processes,
        "ingest_seconds": ingest_s,
        "latency": latency,
        "milvus": kept.get("milvus") or milvus_entry(vectors.shape[1], args.milvus_uri, args.milvus_method),
    }
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    write_results(name, results)
    plot(results, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
