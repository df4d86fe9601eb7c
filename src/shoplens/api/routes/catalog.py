"""Catalogue-wide views: the QA summary, the taxonomy, the colour names, and stored images (re-encoded, never the
upload)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from shoplens.api.catalog_deps import CatalogDep, SessionDep
from shoplens.api.catalog_schemas import PaletteColourPublic, QaFlagPublic, QaPublic, product_public
from shoplens.api.deps import ReaderDep
from shoplens.api.openapi import problems
from shoplens.catalog.queries import image_referenced, qa_summary
from shoplens.imaging.colour import PALETTE

router = APIRouter(prefix="/v1", tags=["catalog"])
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@router.get(
    "/catalog/qa",
    response_model=QaPublic,
    operation_id="getCatalogQa",
    summary="Flagged products: mismatches, duplicates, low quality",
)
def qa(_caller: ReaderDep, session: SessionDep, limit: Annotated[int, Query(ge=0, le=200)] = 20) -> QaPublic:
    """Counts of flagged products and the first `limit` of each flag."""
    summary = qa_summary(session, limit)
    return QaPublic(
        products=summary["products"],
        duplicate_groups=summary["duplicate_groups"],
        flags={
            k: QaFlagPublic(count=v["count"], items=[product_public(p) for p in v["items"]])
            for k, v in summary["flags"].items()
        },
    )


@router.get(
    "/catalog/categories",
    response_model=list[str],
    operation_id="listCategories",
    summary="The catalogue's categories",
)
def categories(_caller: ReaderDep, catalog: CatalogDep) -> list[str]:
    """Category names of the taxonomy, in order."""
    return catalog.categories()


@router.get(
    "/catalog/colours",
    response_model=list[PaletteColourPublic],
    operation_id="listColours",
    summary="The colour names products are filtered by",
)
def colours(_caller: ReaderDep) -> list[PaletteColourPublic]:
    """Every colour name of the palette with a typical shade, in palette order."""
    return [PaletteColourPublic(name=name, hex=shade) for name, shade in PALETTE.items()]


@router.get(
    "/images/{sha256}",
    operation_id="getImage",
    summary="A stored image (PNG, metadata-free) or its thumbnail",
    responses={200: {"content": {"image/png": {}}}, **problems(404)},
)
def image(
    sha256: str,
    _caller: ReaderDep,
    catalog: CatalogDep,
    session: SessionDep,
    variant: Literal["full", "thumb"] = "full",
) -> Response:
    """The stored copy of an image by content id, while a product or creative refers to it."""
    if not SHA256.match(sha256):
        raise HTTPException(404, "no such image")
    store = catalog.store
    # A deleted product's file stays until the next sweep (a new row may take it up again); it is not served.
    if not image_referenced(session, sha256) or not store.exists(sha256):
        raise HTTPException(404, "no such image")
    headers = {"Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"}
    return Response(store.open(sha256, variant), media_type="image/png", headers=headers)
