"""`shoplens ingest`, `reindex`, `demo-catalog` and `catalog qa|sweep`: the product catalogue from the shell."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shoplens.cli.common import ModelName, ModelsDir, app, err, friendly_errors, out

catalog_app = typer.Typer(help="The product catalogue: quality report, orphan sweep.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--catalog-dir", envvar="SHOPLENS_CATALOG_DIR", help="Catalogue data folder (default var/catalog)."
    ),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        help="postgresql://… (default: SQLite in the catalogue folder).",
    ),
]


class Kind(str, Enum):
    auto = "auto"
    folder = "folder"
    csv = "csv"
    urls = "urls"


@contextmanager
def open_catalog(
    models_dir: Path, name: str, data_dir: Path | None, database_url: str | None, **settings: Any
):  # type: ignore[no-untyped-def]
    """The catalogue the options name (other settings from SHOPLENS_* variables), closed after the block."""
    from shoplens.catalog.service import Catalog, catalog_config
    from shoplens.config import Settings
    from shoplens.inference.store import ModelStore

    given = {
        "models_dir": models_dir,
        "model_name": name,
        "catalog_dir": data_dir,
        "database_url": database_url,
        **settings,
    }
    s = Settings(**{k: v for k, v in given.items() if v is not None})
    catalog = Catalog(catalog_config(s), ModelStore(s.models_dir, s.model_name))
    try:
        yield catalog
    finally:
        catalog.close()


@contextmanager
def bar(total: int, what: str) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields a function that advances it."""
    with Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def detect_kind(source: Path) -> Kind:
    """folder for a directory, csv for *.csv, urls for anything else."""
    if source.is_dir():
        return Kind.folder
    return Kind.csv if source.suffix.lower() == ".csv" else Kind.urls


@app.command()
@friendly_errors
def ingest(
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of images, a CSV manifest (sku,title,brand,price,category,image) or a file of URLs."
        ),
    ],
    kind: Annotated[
        Kind, typer.Option(help="What the source is (auto: by its type and suffix).")
    ] = Kind.auto,
    merchant: Annotated[
        str, typer.Option(help="Merchant of the products (a CSV 'merchant' column overrides it).")
    ] = "default",
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host", help="A host images may be fetched from (repeat; '*.example.com' for subdomains)."
        ),
    ] = None,
    allow_private: Annotated[
        bool, typer.Option(help="Also fetch from internal addresses (loopback, private networks).")
    ] = False,
    blur_faces: Annotated[
        bool | None,
        typer.Option(
            "--blur-faces/--no-blur-faces", help="Blur faces (default: the merchant-photo setting, off)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 256,
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Ingest products from a source; re-running it resumes (rows already done are skipped)."""
    from shoplens.catalog.fetch import FetchPolicy
    from shoplens.catalog.jobs import BulkIngest, rows_from_csv, rows_from_folder, rows_from_url_list

    with open_catalog(models_dir, name, catalog_dir, database_url) as catalog:
        kind = detect_kind(source) if kind is Kind.auto else kind
        if kind is Kind.folder:
            rows = rows_from_folder(source, merchant, catalog.categories())
        elif kind is Kind.csv:
            rows = rows_from_csv(source, merchant)
        else:
            rows = rows_from_url_list(source, merchant)
        policy = FetchPolicy(allowed_hosts=frozenset(allow_host or ()), allow_private=allow_private)
        blur = catalog.config.blur_faces_merchant if blur_faces is None else blur_faces
        job = BulkIngest(catalog, policy, batch_size=batch_size, blur_faces=blur)
        start = time.perf_counter()
        with bar(len(rows), f"ingest {source.name}") as advance:
            summary = job.run(kind.value, source, rows, merchant, progress=advance)
        elapsed = time.perf_counter() - start
        out.print(
            f"job {summary.job_id}: {summary.done} done, {summary.skipped} skipped, {summary.failed} failed "
            f"in {elapsed:.1f} s ({len(rows) / max(elapsed, 1e-9):.0f} rows/s)"
        )
        for key, reason in summary.errors[:20]:
            err.print(f"  {key}: {reason}", highlight=False)
        if len(summary.errors) > 20:
            err.print(f"  … and {len(summary.errors) - 20} more failures", highlight=False)
    if summary.failed and not (summary.done or summary.skipped):
        raise typer.Exit(1)


@app.command()
@friendly_errors
def reindex(
    version: Annotated[
        str | None, typer.Option(help="Model version to embed with (default: the active one).")
    ] = None,
    method: Annotated[str | None, typer.Option(help="exact, hnsw or ivf (default: the setting).")] = None,
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Embed the catalogue with a model version, build its vector index, then switch search to it."""
    from sqlalchemy import func, select

    from shoplens.ads.campaigns import reembed_creatives
    from shoplens.catalog.reindex import reindex as run
    from shoplens.db.catalog import ProductImage

    with open_catalog(models_dir, name, catalog_dir, database_url) as catalog:
        with catalog.sessions() as session:
            total = session.scalar(select(func.count(ProductImage.id))) or 0
        with bar(total, "embed") as advance:
            summary = run(catalog, version, method, progress=advance)
        creatives = reembed_creatives(catalog)  # ad creatives are recognised again with the new model
        out.print(
            f"search now uses {summary.version} (was {summary.previous or 'none'}): "
            f"{summary.embedded} images embedded, {summary.indexed} vectors indexed, {creatives} creatives"
        )


@app.command("demo-catalog")
@friendly_errors
def demo_catalog(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where the generated photos, manifest and truth go.")
    ] = Path("var/demo-catalog"),
    products: Annotated[int, typer.Option(min=10, max=10_000)] = 10_000,
    merchants: Annotated[int, typer.Option(min=2, max=200)] = 20,
    seed: int = 0,
    load: Annotated[bool, typer.Option("--load/--no-load", help="Ingest it into the catalogue.")] = True,
    shoppers: Annotated[
        int,
        typer.Option(
            min=0,
            max=10_000,
            help="Simulated shoppers with two weeks of events, and demo ad campaigns (0: none).",
        ),
    ] = 40,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Fashion-MNIST folder.")] = None,
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Build a catalogue from Fashion-MNIST test images (≈3 % wrong categories, ≈2 % near-duplicates), load it,
    and add demo shoppers with browsing histories and demo ad campaigns."""
    from shoplens.catalog.demo import DemoConfig, write_demo_catalog
    from shoplens.data import load_fashion_mnist

    test = load_fashion_mnist("test", data_dir, verify=False)
    manifest = write_demo_catalog(
        test.images,
        test.labels,
        list(test.class_names),
        out_dir,
        DemoConfig(products=products, merchants=merchants, seed=seed),
    )
    out.print(f"wrote {manifest} and {out_dir / 'truth.json'}")
    if load:
        ingest(
            manifest, Kind.csv, "default", None, False, None, 256, models_dir, name, catalog_dir, database_url
        )
        if shoppers:
            from shoplens.ads.demo import seed_demo_campaigns
            from shoplens.recommend.demo import seed_demo_shoppers

            with open_catalog(models_dir, name, catalog_dir, database_url) as catalog:
                events = seed_demo_shoppers(catalog, users=shoppers, seed=seed)
                creatives = seed_demo_campaigns(catalog)
            out.print(
                f"{shoppers} demo shoppers with {events} events; {creatives} ad creatives in 4 campaigns"
            )
        (out_dir / "LOADED").write_text(
            "the demo catalogue is in the catalogue; delete this file to load it again\n"
        )


@catalog_app.command("qa")
@friendly_errors
def catalog_qa(
    limit: Annotated[int, typer.Option(min=0, max=1000)] = 10,
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Counts of flagged products (mismatch, duplicate, low quality) and the first few of each, as JSON."""
    from shoplens.catalog.queries import qa_summary

    with open_catalog(models_dir, name, catalog_dir, database_url) as catalog:
        with catalog.sessions() as session:
            summary = qa_summary(session, limit)
            for flag in summary["flags"].values():
                flag["items"] = [f"{p.id} {p.merchant_id}/{p.sku} {p.title}" for p in flag["items"]]
        print(json.dumps(summary, indent=2))


@catalog_app.command("sweep")
@friendly_errors
def catalog_sweep(
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Delete stored image files that no catalogue row refers to (left by an interrupted ingest)."""
    from shoplens.catalog.queries import referenced_images

    with open_catalog(models_dir, name, catalog_dir, database_url) as catalog:
        with catalog.sessions() as session:
            keep = referenced_images(session)
        out.print(f"removed {catalog.store.sweep(keep)} orphan file(s)")


@catalog_app.command("taxonomy")
@friendly_errors
def catalog_taxonomy(
    categories: Annotated[
        list[str] | None, typer.Argument(help="Categories of a new taxonomy, in display order.")
    ] = None,
    taxonomy: Annotated[
        str | None,
        typer.Option("--taxonomy", help="Its name (default: SHOPLENS_TAXONOMY, fashion-mnist)."),
    ] = None,
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
    catalog_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Show the catalogue's taxonomy, or create a named one from the given categories."""
    from shoplens.catalog.queries import ensure_taxonomy

    with open_catalog(models_dir, name, catalog_dir, database_url, taxonomy=taxonomy) as catalog:
        if categories:
            with catalog.sessions.begin() as session:
                existing = [
                    c.name for c in ensure_taxonomy(session, catalog.config.taxonomy, categories).categories
                ]
            if existing != list(categories):
                raise typer.BadParameter(
                    f"taxonomy {catalog.config.taxonomy!r} exists with other categories: {', '.join(existing)}"
                )
        out.print(f"{catalog.config.taxonomy}: {', '.join(catalog.categories())}")
