"""`shoplens ingest`, `reindex`, `demo-catalog` and `catalog qa|sweep|taxonomy`: the product catalogue from the
shell (`classify-batch`, a model run over many photos, is in `using`).

Operations on single products and merchants (`catalog delete|similar|duplicates|merchants`) are in `products`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shoplens.cli.common import app, err, friendly_errors, out
from shoplens.cli.data import FashionMnistDir
from shoplens.cli.engines import Engine, EngineOption, IngestWorkers, RayAddress, Workers, on_engine
from shoplens.cli.options import CATALOG, DEVICE, with_settings
from shoplens.config import Settings
from shoplens.errors import CatalogInputError, NotFoundError
from shoplens.files import write_atomic

if TYPE_CHECKING:
    from shoplens.catalog.service import Catalog

catalog_app = typer.Typer(
    help="The product catalogue: quality report, orphan sweep, taxonomy, search by image, products, merchants.",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")


class Kind(str, Enum):
    auto = "auto"
    folder = "folder"
    csv = "csv"
    urls = "urls"


@contextmanager
def open_catalog(settings: Settings) -> Iterator[Catalog]:
    """The catalogue the settings name, closed after the block."""
    from shoplens.backbones.serving import model_loader
    from shoplens.catalog.service import Catalog, catalog_config
    from shoplens.inference.store import ModelStore

    catalog = Catalog(
        catalog_config(settings),
        ModelStore(settings.models_dir, settings.model_name, model_loader(device=settings.device)),
    )
    try:
        yield catalog
    finally:
        catalog.close()


@contextmanager
def bar(total: int, what: str) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields a function that advances it; full once the job ends well (rows it
    skipped, such as images already embedded or blank lines, never advance it)."""
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
        progress.update(task, completed=total)


def detect_kind(source: Path) -> Kind:
    """folder for a directory, csv for *.csv and *.parquet manifests, urls for any other file."""
    if source.is_dir():
        return Kind.folder
    if source.suffix.lower() in (".csv", ".parquet"):
        return Kind.csv
    if not source.exists():
        raise NotFoundError(f"no folder or file {source}")
    return Kind.urls


SHOWN_FAILURES = 20


def write_failures(path: Path, errors: Sequence[tuple[str, str]]) -> None:
    """The failed rows of a job as a CSV of row,reason."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["row", "reason"])
    writer.writerows(errors)
    write_atomic(path, text.getvalue().encode())


@app.command()
@friendly_errors
@with_settings(CATALOG, DEVICE, {"blur_faces_merchant": ("--blur-faces/--no-blur-faces",)})
def ingest(
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of images, a CSV or Parquet manifest (sku,title,brand,price,category,image) or a "
            "file of URLs."
        ),
    ],
    settings: Settings,
    kind: Annotated[
        Kind, typer.Option(help="What the source is (auto: by its type and suffix).")
    ] = Kind.auto,
    merchant: Annotated[str, typer.Option(help="Merchant of the products.")] = "default",
    merchant_from_csv: Annotated[
        bool, typer.Option(help="Let a CSV 'merchant' column name other merchants (else such rows fail).")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host", help="A host images may be fetched from (repeat; '*.example.com' for subdomains)."
        ),
    ] = None,
    allow_private: Annotated[
        bool, typer.Option(help="Also fetch from internal addresses (loopback, private networks).")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 256,
    engine: EngineOption = Engine.local,
    ray_address: RayAddress = None,
    workers: IngestWorkers = 2,
    failures: Annotated[
        Path | None,
        typer.Option(
            help="Write every failed row and its reason to this CSV (the summary shows the first 20)."
        ),
    ] = None,
) -> None:
    """Ingest products from a source; re-running it resumes (rows already done are skipped)."""
    from shoplens.catalog.fetch import FetchPolicy
    from shoplens.catalog.jobs import BulkIngest
    from shoplens.catalog.sources import (
        READ_COLUMNS,
        rows_from_csv,
        rows_from_folder,
        rows_from_url_list,
        unread_columns,
    )

    with open_catalog(settings) as catalog:
        kind = detect_kind(source) if kind is Kind.auto else kind
        if kind is Kind.folder:
            rows = rows_from_folder(source, merchant, catalog.categories())
        elif kind is Kind.csv:
            rows = rows_from_csv(source, merchant, merchant_from_csv)
            if extra := unread_columns(source):
                read = ",".join(READ_COLUMNS)
                err.print(f"warning: column(s) not read: {', '.join(extra)} (read: {read})", highlight=False)
        else:
            rows = rows_from_url_list(source, merchant)
        policy = FetchPolicy(allowed_hosts=frozenset(allow_host or ()), allow_private=allow_private)
        job = BulkIngest(
            catalog, policy, batch_size=batch_size, blur_faces=settings.blur_faces_merchant, workers=workers
        )
        if engine is Engine.ray and kind is Kind.urls:
            raise typer.BadParameter("URL lists are fetched by the local engine: use --engine local")
        start = time.perf_counter()
        with on_engine(engine, ray_address), bar(len(rows), f"ingest {source.name}") as advance:
            runner = None
            if engine is Engine.ray:
                from shoplens.catalog.ray_jobs import ingest_outcomes_ray

                runner = ingest_outcomes_ray(
                    catalog, workers, settings.blur_faces_merchant, job.max_bytes, write_batch=batch_size
                )
            summary = job.run(kind.value, source, rows, merchant, progress=advance, engine=runner)
        elapsed = time.perf_counter() - start
        out.print(
            f"job {summary.job_id}: {summary.done} done, {summary.skipped} skipped, {summary.failed} failed "
            f"in {elapsed:.1f} s ({len(rows) / max(elapsed, 1e-9):.0f} rows/s)"
        )
        for key, reason in summary.errors[:SHOWN_FAILURES]:
            err.print(f"  {key}: {reason}", highlight=False)
        if failures is not None:
            write_failures(failures, summary.errors)
            err.print(f"  every failure: {failures}", highlight=False)
        elif len(summary.errors) > SHOWN_FAILURES:
            more = len(summary.errors) - SHOWN_FAILURES
            err.print(f"  … and {more} more failures (every one: --failures FILE)", highlight=False)
    if summary.failed and not (summary.done or summary.skipped):
        raise typer.Exit(1)


@app.command()
@friendly_errors
@with_settings(CATALOG, DEVICE, {"index_method": ("--method",)})
def reindex(
    settings: Settings,
    version: Annotated[
        str | None, typer.Option(help="Model version to embed with (default: the active one).")
    ] = None,
    engine: EngineOption = Engine.local,
    ray_address: RayAddress = None,
    workers: Workers = 2,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Run the model again on every image (after `shoplens models refit-detector` changed the version).",
        ),
    ] = False,
) -> None:
    """Embed the catalogue with a model version, build its vector index, then switch search to it."""
    from shoplens.ads.campaigns import reembed_creatives
    from shoplens.catalog.queries import count_images
    from shoplens.catalog.reindex import SETTLE_S
    from shoplens.catalog.reindex import reindex as run

    with open_catalog(settings) as catalog:
        with catalog.sessions() as session:
            total = count_images(session)
        with on_engine(engine, ray_address), bar(total, "embed") as advance:
            embedder = None
            if engine is Engine.ray:
                from shoplens.catalog.ray_jobs import embed_pending_ray

                embedder = embed_pending_ray(catalog, workers)
            summary = run(
                catalog,
                version,
                settings.index_method,
                progress=advance,
                embedder=embedder,
                refresh=refresh,
                settle_s=SETTLE_S,  # a server's ingest that chose the old model just before the switch
            )
        creatives = reembed_creatives(catalog)  # ad creatives are recognised again with the new model
        out.print(
            f"search now uses {summary.version} (was {summary.previous or 'none'}): "
            f"{summary.embedded} images embedded, {summary.indexed} vectors indexed, {creatives} creatives"
        )


@app.command("demo-catalog")
@friendly_errors
@with_settings(CATALOG)
def demo_catalog(
    settings: Settings,
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
    data_dir: FashionMnistDir = None,
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
        ingest(manifest, kind=Kind.csv, settings=settings, merchant_from_csv=True)  # its own manifest
        if shoppers:
            from shoplens.ads.demo import seed_demo_campaigns
            from shoplens.recommend.demo import seed_demo_shoppers

            with open_catalog(settings) as catalog:
                events = seed_demo_shoppers(catalog, users=shoppers, seed=seed)
                campaigns, creatives = seed_demo_campaigns(catalog)
            out.print(
                f"{shoppers} demo shoppers with {events} events; {creatives} ad creatives in {campaigns} new "
                "campaigns"
            )
        (out_dir / "LOADED").write_text(
            "the demo catalogue is in the catalogue; delete this file to load it again\n"
        )


@catalog_app.command("qa")
@friendly_errors
@with_settings(CATALOG)
def catalog_qa(settings: Settings, limit: Annotated[int, typer.Option(min=0, max=1000)] = 10) -> None:
    """Counts of flagged products (mismatch, duplicate, low quality) and the first few of each, as JSON."""
    from shoplens.catalog.queries import qa_summary

    with open_catalog(settings) as catalog:
        with catalog.sessions() as session:
            summary = qa_summary(session, limit)
            for flag in summary["flags"].values():
                flag["items"] = [f"{p.id} {p.merchant_id}/{p.sku} {p.title}" for p in flag["items"]]
        print(json.dumps(summary, indent=2))


@catalog_app.command("sweep")
@friendly_errors
@with_settings(CATALOG)
def catalog_sweep(settings: Settings) -> None:
    """Delete stored image files that no catalogue row refers to (left by an interrupted ingest)."""
    from shoplens.catalog.queries import referenced_images

    with open_catalog(settings) as catalog:
        with catalog.sessions() as session:
            keep = referenced_images(session)
        out.print(f"removed {catalog.store.sweep(keep)} orphan file(s)")


@catalog_app.command("taxonomy")
@friendly_errors
@with_settings(CATALOG, {"taxonomy": ()})
def catalog_taxonomy(
    settings: Settings,
    categories: Annotated[
        list[str] | None, typer.Argument(help="Categories of a new taxonomy, in display order.")
    ] = None,
) -> None:
    """Show the catalogue's taxonomy, or create a named one from the given categories."""
    from sqlalchemy import select

    from shoplens.catalog.queries import ensure_taxonomy
    from shoplens.db.catalog import Taxonomy

    name = settings.taxonomy
    with open_catalog(settings) as catalog:
        if categories:
            with catalog.sessions.begin() as session:
                existing = [c.name for c in ensure_taxonomy(session, name, categories).categories]
            if existing != list(categories):
                raise CatalogInputError(
                    f"taxonomy {name!r} exists with other categories: {', '.join(existing)}"
                )
        elif name != Settings.model_fields["taxonomy"].default:  # showing a name made no taxonomy of it
            with catalog.sessions() as session:
                names = list(session.scalars(select(Taxonomy.name).order_by(Taxonomy.name)))
            if name not in names:
                raise CatalogInputError(
                    f"no taxonomy {name!r} (taxonomies: {', '.join(names) or 'none yet'})"
                )
        out.print(f"{name}: {', '.join(catalog.categories())}")
