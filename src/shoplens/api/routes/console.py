"""Small endpoints the web console needs: a version's report files, merchants, shoppers, a duplicate check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from PIL import Image
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from shoplens.api.catalog_schemas import SimilarHit, SimilarPublic, image_public, product_public
from shoplens.api.deps import AdminDep, ReaderDep, ServiceDep
from shoplens.api.uploads import MULTIPART_BODY, read_uploads
from shoplens.catalog.queries import get_product
from shoplens.catalog.service import Catalog
from shoplens.db.behaviour import Event
from shoplens.db.catalog import Merchant, Product, ProductImage
from shoplens.errors import NotFoundError
from shoplens.imaging import decode_image
from shoplens.imaging.hashing import canonical_view, perceptual_hash

router = APIRouter(prefix="/v1", tags=["console"])
REPORT_FILES = {  # the only names served from a bundle's report/ folder
    "metrics.json": "application/json",
    "training_curves.png": "image/png",
    "confusion_matrix.png": "image/png",
    "reliability.png": "image/png",
    "misclassified.png": "image/png",
}
REPORT_RESPONSES = {
    200: {"content": {"image/png": {}, "application/json": {}}},
    404: {"description": "Not there"},
}
ReportName = Annotated[str, Path(description="One of: " + ", ".join(REPORT_FILES))]


class MerchantPublic(BaseModel):
    """A merchant and how many products it lists."""

    id: str
    name: str
    products: int


class ShopperPublic(BaseModel):
    """A shopper with recorded events."""

    user_id: str
    events: int
    last_event: datetime


class ShopperListPublic(BaseModel):
    """Shoppers with the most events; empty when ids are pseudonymised (stored keys cannot be looked up)."""

    pseudonymised: bool
    users: list[ShopperPublic]


@router.get(
    "/models/{version}/report/{name}",
    summary="A file of a version's evaluation report",
    responses=REPORT_RESPONSES,
)
def report_file(version: str, name: ReportName, _caller: ReaderDep, service: ServiceDep) -> Response:
    """metrics.json (the report's, else the bundle's) or one of the report's figures, by allowlisted name."""
    media_type = REPORT_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, f"no report file {name!r}: one of {', '.join(REPORT_FILES)}")
    folder = service.handle.store.path_of(version)  # validates the version's name: 404 for an unknown one
    candidates = [folder / "report" / name] + ([folder / name] if name == "metrics.json" else [])
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise NotFoundError(f"version {version!r} has no {name} (evaluate it: shoplens evaluate)")
    headers = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


@router.get(
    "/catalog/merchants", response_model=list[MerchantPublic], summary="Merchants and their product counts"
)
def merchants(_caller: ReaderDep, service: ServiceDep) -> list[MerchantPublic]:
    """Every merchant, by id."""
    stmt = (
        select(Merchant.id, Merchant.name, func.count(Product.id))
        .outerjoin(Product, Product.merchant_id == Merchant.id)
        .group_by(Merchant.id, Merchant.name)
        .order_by(Merchant.id)
    )
    with service.catalog().sessions() as session:
        return [MerchantPublic(id=i, name=n, products=c) for i, n, c in session.execute(stmt)]


@router.get("/users", response_model=ShopperListPublic, summary="Shoppers with the most events")
def shoppers(
    _caller: AdminDep, service: ServiceDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> ShopperListPublic:
    """Shopper ids with their event counts, most active first (admin: ids are personal data)."""
    if service.settings.user_id_secret is not None:
        return ShopperListPublic(pseudonymised=True, users=[])
    count = func.count(Event.id)
    stmt = (
        select(Event.user_id, count, func.max(Event.ts))
        .group_by(Event.user_id)
        .order_by(count.desc(), Event.user_id)
        .limit(limit)
    )
    with service.catalog().sessions() as session:
        rows = session.execute(stmt).all()
    return ShopperListPublic(
        pseudonymised=False, users=[ShopperPublic(user_id=u, events=n, last_event=t) for u, n, t in rows]
    )


def duplicate_check(catalog: Catalog, data: bytes, max_pixels: int) -> SimilarPublic:
    """Catalogue products showing a near-duplicate of the photo, most similar first, one hit per product."""
    image = decode_image(data, max_pixels=max_pixels)
    model, _, vectors = catalog.embed([image])
    view = canonical_view(image)
    phash = perceptual_hash(Image.fromarray(view))
    cache = catalog.duplicate_cache(model.version)
    with catalog.sessions() as session:
        with cache.lock:
            cache.refresh(session)
            rows, sims = cache.matches(phash, vectors[0], view, catalog.config.duplicates)
            image_ids = [int(i) for i in cache.ids[rows]]
        best: dict[int, SimilarHit] = {}
        for image_id, sim in sorted(zip(image_ids, sims.tolist()), key=lambda x: -x[1]):
            img = session.get(ProductImage, image_id)
            if img is None or img.product_id in best:
                continue  # deleted meanwhile, or this product already has a better image
            product = product_public(get_product(session, img.product_id))
            best[img.product_id] = SimilarHit(
                similarity=round(sim, 6), image=image_public(img), product=product
            )
    return SimilarPublic(model_version=model.version, results=list(best.values()))


@router.post(
    "/search/duplicates",
    response_model=SimilarPublic,
    openapi_extra=MULTIPART_BODY,
    summary="Products showing a near-duplicate of a photo",
)
async def duplicates(request: Request, _caller: ReaderDep, service: ServiceDep) -> SimilarPublic:
    """Check a photo (multipart `file`) against the catalogue with ingestion's rule, without storing it."""
    settings = service.settings
    (upload,) = await read_uploads(request, 1, settings.max_parts)
    catalog = await run_in_threadpool(service.catalog)
    return await run_in_threadpool(duplicate_check, catalog, upload.data, settings.max_pixels)
