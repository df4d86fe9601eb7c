"""What colours cost the catalogue: extraction per ingested photo, the colour filter's query, the colour blend.

    .venv/bin/python bench/catalog_colours.py      # → bench/results/catalog_colours.json (about two minutes)

- `image_colours` (what ingestion and the backfill run per photo) on a one-colour garment photo at three sizes.
- `GET /v1/products?colour=…`'s query (`list_products` with a colour filter, first page of 50) against the same
  page unfiltered, on a SQLite catalogue of PRODUCTS products with three colours each (rows written directly:
  no model is needed to measure the query).
- `palette_similarity`, which a colour-weighted search by image runs once per neighbour fetched (≥ 64).
- Bulk ingestion (`BulkIngest`, as `bench/catalog.py` measures it) of INGESTED demo products with the model in
  var/models (skipped without one), with colours and with colour extraction switched off, alternating, ROUNDS
  rounds each: the images per second either way and their ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, mean_std, write_results
from PIL import Image, ImageDraw

import shoplens.catalog.ingest as ingest_module
from shoplens.catalog.demo import DemoConfig, write_demo_catalog
from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.queries import ProductFilter, list_products
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import rows_from_csv
from shoplens.data import load_fashion_mnist
from shoplens.db.catalog import ImageColour, Merchant, Product, ProductImage
from shoplens.db.engine import open_database
from shoplens.imaging.colour import PALETTE, Colour, image_colours, palette_similarity
from shoplens.inference.store import ModelStore

SIZES = ((28, 28), (640, 800), (1600, 2000))
RUNS = 10
PRODUCTS = 20_000
INGESTED = 2_000
ROUNDS = 2


def timed(fn: Callable[[], object], runs: int) -> dict:
    """Milliseconds per call (mean ± std over runs, after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in mean_std(times).items()}


def garment(size: tuple[int, int]) -> Image.Image:
    """A red garment on near-white, at this size."""
    w, h = size
    img = Image.new("RGB", size, (246, 246, 244))
    ImageDraw.Draw(img).rectangle([w // 5, h // 8, 4 * w // 5, 7 * h // 8], fill=(184, 50, 46))
    return img


def catalogue(folder: Path) -> object:
    """A SQLite catalogue of PRODUCTS products, one image each with three random palette colours."""
    engine, sessions = open_database(f"sqlite:///{folder / 'catalog.db'}")
    rng = random.Random(0)
    names = list(PALETTE)
    with sessions.begin() as s:
        s.add(Merchant(id="m", name="m"))
        for i in range(PRODUCTS):
            shares = sorted((rng.random() for _ in range(3)), reverse=True)
            total = sum(shares)
            colours = [
                ImageColour(name=n, hex=PALETTE[n], share=round(v / total, 4), position=k)
                for k, (n, v) in enumerate(zip(rng.sample(names, 3), shares))
            ]
            image = ProductImage(
                sha256=f"{i:064x}",
                phash=i,
                view=b"",
                width=1,
                height=1,
                bytes=1,
                sharpness=1.0,
                brightness=1.0,
            )
            image.colours = colours
            s.add(Product(merchant_id="m", sku=f"s{i}", title=f"Item {i}", images=[image]))
    return engine, sessions


def ingest_rate(models: ModelStore, with_colours: bool, tmp: Path, test: object) -> float:
    """Images per second of a bulk ingestion of INGESTED demo products into a fresh catalogue."""
    src = tmp / f"src-{with_colours}"
    manifest = write_demo_catalog(
        test.images,
        test.labels,
        list(test.class_names),
        src,
        DemoConfig(products=INGESTED),  # type: ignore[attr-defined]
    )
    catalog = Catalog(CatalogConfig(data_dir=tmp / f"catalog-{with_colours}-{time.monotonic_ns()}"), models)
    catalog.model()
    rows = rows_from_csv(manifest, "default", merchant_column=True)
    ingest_module.image_colours = image_colours if with_colours else (lambda image: [])
    try:
        start = time.perf_counter()
        summary = BulkIngest(catalog).run("csv", manifest, rows, "default")
        seconds = time.perf_counter() - start
        assert summary.done == len(rows), summary.errors[:3]
        return len(rows) / seconds
    finally:
        ingest_module.image_colours = image_colours
        catalog.close()


def ingestion(models_dir: str, name: str) -> dict | None:
    """Bulk ingestion with and without colours, alternating; None without a model."""
    models = ModelStore(models_dir, name)
    if models.active_version() is None:
        return None
    test = load_fashion_mnist("test", verify=False)
    rates: dict[str, list[float]] = {"with_colours": [], "without_colours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            for on in (True, False):
                rates["with_colours" if on else "without_colours"].append(
                    ingest_rate(models, on, Path(tmp), test)
                )
    out: dict = {k: mean_std(v) for k, v in rates.items()}
    out["ratio"] = out["with_colours"]["mean"] / out["without_colours"]["mean"]
    out["model_version"] = models.active_version()
    return out


def main() -> None:
    """Measure and write bench/results/catalog_colours.json."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", default="var/models")
    parser.add_argument("--name", default="fashion-mnist")
    args = parser.parse_args()
    extraction = {f"{w}x{h}": timed(lambda im=garment((w, h)): image_colours(im), RUNS) for w, h in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        engine, sessions = catalogue(Path(tmp))
        queries = {}
        with sessions() as s:
            for label, f in (
                ("unfiltered", ProductFilter()),
                ("colour=red", ProductFilter(colours=("red",))),
                ("colour=red,navy", ProductFilter(colours=("red", "navy"))),
            ):
                queries[label] = {
                    "ms": timed(lambda f=f: list_products(s, f), RUNS),
                    "total": list_products(s, f)[0],
                }
        engine.dispose()
    a = [Colour("red", "#B8322E", 0.6), Colour("white", "#F4F4F2", 0.3), Colour("navy", "#1F2A48", 0.1)]
    b = [Colour("blue", "#3565A8", 0.7), Colour("grey", "#8C8C8C", 0.3)]
    blend = timed(lambda: [palette_similarity(a, b) for _ in range(64)], RUNS)
    payload = {
        "what": "image_colours per photo; first page (50) of the product list with and without a colour filter "
        f"on SQLite, {PRODUCTS} products × 3 colours; palette_similarity × 64 neighbours (one blended search)",
        "image_colours_ms": extraction,
        "product_list_sqlite": queries,
        "colour_blend_64_neighbours_ms": blend,
        "bulk_ingest_images_per_second": ingestion(args.models_dir, args.name),
        "machine": machine_info(),
    }
    print(write_results("catalog_colours", payload))


if __name__ == "__main__":
    main()
