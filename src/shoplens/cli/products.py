"""`shoplens catalog list|delete|similar|duplicates|merchants|colours`: the catalogue operations the API offers,
from the shell.

Each command calls the same domain function as its API route (`catalog.products`, `catalog.similar`,
`catalog.queries`), so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shoplens.cli.catalog import catalog_app, open_catalog
from shoplens.cli.common import err, friendly_errors, out
from shoplens.cli.options import CATALOG, with_settings
from shoplens.config import Settings

if TYPE_CHECKING:
    from shoplens.catalog.similar import Found

Photo = Annotated[
    Path,
    typer.Argument(
        help="A JPEG, PNG, WebP, GIF, AVIF or HEIC photo, at most SHOPLENS_MAX_UPLOAD_BYTES (not stored)."
    ),
]
Limit = Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="At most this many products.")]
Category = Annotated[str | None, typer.Option(help="Only products declared in this category.")]
Merchant = Annotated[str | None, typer.Option(help="Only this merchant's products.")]
Status = Annotated[
    list[str] | None,
    typer.Option(
        help="Only products of this status (repeat, or a comma list: any of them): active, draft, archived."
    ),
]
InStock = Annotated[bool, typer.Option("--in-stock", help="Only products with stock left.")]


def print_found(found: Found, nothing: str) -> None:
    """One tab-separated line per hit (similarity, product id, merchant/sku, category, title, matched image)."""
    if not found.hits:
        why = f": {found.reason}" if found.reason else ""  # a photo of no product is not searched with
        out.print(f"{nothing}{why} (model {found.model_version})", highlight=False)
        return
    for hit in found.hits:
        p = hit.product
        print(
            f"{hit.similarity:.4f}\t{p.id}\t{p.merchant_id}/{p.sku}\t{p.declared_category or '-'}"
            f"\t{p.title}\timage {hit.image.id}"
        )


@catalog_app.command("delete")
@friendly_errors
@with_settings(CATALOG)
def delete(
    product_id: Annotated[int, typer.Argument(help="The product's id.")],
    settings: Settings,
    merchant: Annotated[
        str | None,
        typer.Option(help="Refuse unless the product is this merchant's (as a merchant key would)."),
    ] = None,
) -> None:
    """Delete a product with its images, their embeddings and their vector-index entries."""
    from shoplens.catalog.products import delete_product

    with open_catalog(settings) as catalog:
        images = delete_product(catalog, product_id, merchant)
    out.print(f"deleted product {product_id} and {len(images)} image(s)")


@catalog_app.command("similar")
@friendly_errors
@with_settings(CATALOG)
def similar(
    photo: Photo,
    settings: Settings,
    k: Limit = 10,
    min_similarity: Annotated[
        float,
        typer.Option(min=-1, max=1, help="Leave out weaker matches (cosine; by default none: k come back)."),
    ] = -1.0,
    category: Category = None,
    merchant: Merchant = None,
    status: Status = None,
    in_stock: InStock = False,
    colour_weight: Annotated[
        float,
        typer.Option(
            min=0, max=1, help="Blend colour into the ranking: (1 − w)·cosine + w·colour similarity."
        ),
    ] = 0.0,
) -> None:
    """Search by image: the catalogue products that look most like a photo, best first."""
    from shoplens.catalog.queries import Scope, check_statuses
    from shoplens.catalog.similar import find_similar
    from shoplens.imaging import read_image_bytes

    scope = Scope(category, merchant, check_statuses(status or []), in_stock)
    data = read_image_bytes(photo, max_bytes=settings.max_upload_bytes)
    with open_catalog(settings) as catalog:
        catalog.check_category(category)
        found = find_similar(
            catalog,
            photo=data,
            k=k,
            min_similarity=min_similarity,
            scope=scope,
            colour_weight=colour_weight,
        )
    print_found(found, "no similar products")


@catalog_app.command("duplicates")
@friendly_errors
@with_settings(CATALOG)
def duplicates(photo: Photo, settings: Settings) -> None:
    """Products showing a near-duplicate of a photo, by ingestion's rule, without storing the photo."""
    from shoplens.catalog.similar import find_duplicates
    from shoplens.imaging import read_image_bytes

    data = read_image_bytes(photo, max_bytes=settings.max_upload_bytes)
    with open_catalog(settings) as catalog:
        found = find_duplicates(catalog, data)
    print_found(found, "no near-duplicates")


@catalog_app.command("merchants")
@friendly_errors
@with_settings(CATALOG)
def merchants(settings: Settings) -> None:
    """Every merchant with its number of products, by id (tab-separated)."""
    from shoplens.catalog.queries import list_merchants

    with open_catalog(settings) as catalog, catalog.sessions() as session:
        found = list_merchants(session)
    if not found:
        out.print("no merchants yet")
    for m in found:
        print(f"{m.id}\t{m.products}\t{m.name}")


@catalog_app.command("list")
@friendly_errors
@with_settings(CATALOG)
def list_(
    settings: Settings,
    category: Category = None,
    merchant: Merchant = None,
    status: Status = None,
    in_stock: InStock = False,
    q: Annotated[str | None, typer.Option("--q", help="Text in the title or brand.")] = None,
    colour: Annotated[
        list[str] | None,
        typer.Option(help="A colour (repeat, or a comma list: any of them), e.g. red, navy, light blue."),
    ] = None,
    attribute: Annotated[
        list[str] | None, typer.Option(help="An attribute value as attribute:value, e.g. pattern:striped.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many products.")] = 50,
) -> None:
    """Products matching every filter, newest first: id, merchant/sku, category, colours, title (tab-separated)."""
    from shoplens.catalog.colours import check_colours, parse_attributes
    from shoplens.catalog.queries import ProductFilter, check_statuses, list_products

    chosen = ProductFilter(
        category,
        merchant,
        None,
        q,
        limit,
        colours=check_colours(colour or []),
        attributes=parse_attributes(attribute or []),
        statuses=check_statuses(status or []),
        in_stock=in_stock,
    )
    with open_catalog(settings) as catalog, catalog.sessions() as session:
        catalog.check_category(category)
        total, found = list_products(session, chosen)
        for p in found:
            colours = ",".join(dict.fromkeys(c.name for img in p.images for c in img.colours)) or "-"
            print(f"{p.id}\t{p.merchant_id}/{p.sku}\t{p.declared_category or '-'}\t{colours}\t{p.title}")
    out.print(f"{len(found)} of {total} product(s)", highlight=False)


@catalog_app.command("colours")
@friendly_errors
@with_settings(CATALOG)
def colours(
    settings: Settings,
    backfill: Annotated[
        bool, typer.Option("--backfill", help="Compute the colours of stored images that have none.")
    ] = False,
) -> None:
    """The catalogue's colours: with --backfill, compute them for images stored before colours were kept."""
    from shoplens.catalog.colours import backfill_colours, count_uncoloured

    with open_catalog(settings) as catalog:
        if not backfill:
            with catalog.sessions() as session:
                missing = count_uncoloured(session)
            out.print(f"{missing} image(s) without colours (shoplens catalog colours --backfill)")
            return
        done = backfill_colours(catalog.sessions, catalog.store.open)
    out.print(f"coloured {done.coloured} image(s)", highlight=False)
    for image_id, why in done.failed.items():
        err.print(f"image {image_id}: {why}", highlight=False)
    if done.failed:
        raise typer.Exit(1)
