"""Recommendation benchmark: simulated shoppers on the demo catalogue; HR@10, NDCG@10, coverage and latency.

    .venv/bin/python bench/recsys_sim.py            # 10k products, 3000 shoppers, 3 seeds
    .venv/bin/python bench/recsys_sim.py --quick    # 2k products, 600 shoppers, 1 seed

Builds the demo catalogue (Fashion-MNIST test images) in a temporary folder with the active model of
var/models — or reuses the one in --catalog-dir — then runs `shoplens.recommend.simulate` once per seed: the
simulated shoppers' first three weeks go in through the real event path, and each recommender is asked for the
products the shoppers later carted or bought (the simulator's assumptions are in that module's docstring).
Latency is `Recommender.recommend` in-process (no HTTP), computed without the cache, on the warm snapshot.
When `shoplens.ads.simulate` is importable its simulation runs on the same catalogue and fills "ads".
Writes bench/results/recsys.json and recsys.png (recsys_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import faiss

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results

from shoplens.catalog.demo import DemoConfig, write_demo_catalog
from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import rows_from_csv
from shoplens.data import load_fashion_mnist
from shoplens.db.catalog import Product
from shoplens.inference.store import ModelStore
from shoplens.recommend.simulate import SimConfig, run_simulation, summarise, write_chart


def open_demo(root: Path, products: int, models: ModelStore, data_dir: str | None) -> tuple[Catalog, float]:
    """The catalogue in root (the demo one built and ingested unless it has products), and the build seconds."""
    catalog = Catalog(CatalogConfig(data_dir=root), models)
    with catalog.sessions() as session:
        if session.query(Product.id).first() is not None:
            return catalog, 0.0
    started = time.perf_counter()
    test = load_fashion_mnist("test", data_dir, verify=False)
    manifest = write_demo_catalog(
        test.images, test.labels, list(test.class_names), root / "demo-src", DemoConfig(products=products)
    )
    summary = BulkIngest(catalog).run(
        "csv", manifest, rows_from_csv(manifest, "default", merchant_column=True), "default"
    )
    print(f"demo catalogue: {summary.done} products ingested in {time.perf_counter() - started:.0f} s")
    return catalog, time.perf_counter() - started


def run_ads(catalog: Catalog, quick: bool) -> Any:
    """The ads simulation's result on this catalogue, or None when the ads part is not there."""
    try:
        from shoplens.ads.simulate import simulate_ads
    except ImportError:
        return None
    return simulate_ads(catalog, n_users=200 if quick else 500, rounds=4000 if quick else 20_000, seed=0)


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2k products, 600 shoppers, one seed")
    parser.add_argument(
        "--catalog-dir", type=Path, help="Build the demo catalogue here, or reuse the one already here."
    )
    parser.add_argument("--repeats", type=int, help="Seeds to run (default 3, or 1 with --quick).")
    parser.add_argument("--users", type=int, help="Simulated shoppers (default 3000, or 600 with --quick).")
    parser.add_argument("--models-dir", default="var/models")
    parser.add_argument("--name", default="fashion-mnist")
    parser.add_argument("--data-dir", help="Fashion-MNIST folder (default: the installed one).")
    parser.add_argument("--no-ads", action="store_true", help="Skip the ads simulation.")
    args = parser.parse_args()
    faiss.omp_set_num_threads(
        1
    )  # one query per request: parallel requests, not threads within one, use the cores
    products = 2000 if args.quick else 10_000
    cfg = replace(SimConfig(), users=args.users or (600 if args.quick else 3000))
    repeats = args.repeats or (1 if args.quick else 3)
    models = ModelStore(args.models_dir, args.name)
    with tempfile.TemporaryDirectory(prefix="shoplens-recsys-") as tmp:
        catalog, build_s = open_demo(
            args.catalog_dir or Path(tmp) / "catalog", products, models, args.data_dir
        )
        runs = [run_simulation(catalog, cfg, seed=seed) for seed in range(repeats)]
        ads = None if args.no_ads else run_ads(catalog, args.quick)
        catalog.close()
    latency = [ms for r in runs for ms in r["latency"].pop("samples_ms")]
    summary = summarise(runs)
    blend, pop = summary["blend"], summary["popularity"]
    results = {
        "machine": machine_info(),
        "command": " ".join(["bench/recsys_sim.py", *sys.argv[1:]]),
        "products": runs[0]["products"],
        "model_version": runs[0]["model_version"],
        "simulation": asdict(cfg),
        "seeds": repeats,
        "recommenders": summary,
        "ads": ads,
        "recommend_latency_ms_p50": float(sorted(latency)[len(latency) // 2]),
        "recommend_latency_ms_p99": float(sorted(latency)[min(len(latency) - 1, int(len(latency) * 0.99))]),
        "recommend_cached_latency_ms_p50": float(sum(r["latency"]["cached_p50_ms"] for r in runs) / repeats),
        "snapshot_build_ms": float(sum(r["snapshot_build_ms"] for r in runs) / repeats),
        "catalogue_build_s": build_s,
        "targets": {
            "blend_hr_over_popularity": blend["hr_at_10"] / max(pop["hr_at_10"], 1e-12),
            "blend_above_each_single_signal": all(
                blend["hr_at_10"] > summary[n]["hr_at_10"] for n in ("category", "visual")
            ),
        },
        "runs": runs,
    }
    name = "recsys_quick" if args.quick else "recsys"
    write_results(name, results)
    write_chart(summary, latency, RESULTS / f"{name}.png")
    shown = {
        k: results[k]
        for k in ("recommenders", "recommend_latency_ms_p50", "recommend_latency_ms_p99", "targets")
    }
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
