"""Small endpoints the web console needs: a version's report files, merchants, shoppers, a duplicate check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from shoplens.api.catalog_deps import CatalogDep, SessionDep
from shoplens.api.catalog_schemas import SimilarPublic, similar_public
from shoplens.api.deps import AdminDep, ReaderDep, ServiceDep, SettingsDep
from shoplens.api.openapi import problems
from shoplens.api.schemas import Timestamp
from shoplens.api.uploads import ONE_IMAGE_BODY, read_uploads
from shoplens.behaviour.events import list_shoppers
from shoplens.catalog.queries import list_merchants
from shoplens.catalog.similar import find_duplicates
from shoplens.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["console"])
REPORT_FILES = {  # the only names served from a bundle's report/ folder
    "metrics.json": "application/json",
    "training_curves.png": "image/png",
    "confusion_matrix.png": "image/png",
    "reliability.png": "image/png",
    "misclassified.png": "image/png",
}
REPORT_RESPONSES = {200: {"content": {"image/png": {}, "application/json": {}}}, **problems(404)}
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
    last_event: Timestamp


class ShopperListPublic(BaseModel):
    """Shoppers with the most events; empty when ids are pseudonymised (stored keys cannot be looked up)."""

    pseudonymised: bool
    users: list[ShopperPublic]


@router.get(
    "/models/{version}/report/{name}",
    operation_id="getModelReportFile",
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
    "/catalog/merchants",
    response_model=list[MerchantPublic],
    operation_id="listMerchants",
    summary="Merchants and their product counts",
)
def merchants(_caller: ReaderDep, session: SessionDep) -> list[MerchantPublic]:
    """Every merchant, by id."""
    return [MerchantPublic(id=m.id, name=m.name, products=m.products) for m in list_merchants(session)]


@router.get(
    "/users",
    response_model=ShopperListPublic,
    operation_id="listShoppers",
    summary="Shoppers with the most events",
)
def shoppers(
    _caller: AdminDep,
    settings: SettingsDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> ShopperListPublic:
    """Shopper ids with their event counts, most active first (admin: ids are personal data)."""
    found = list_shoppers(session, settings.user_id_secret, limit)
    if found is None:
        return ShopperListPublic(pseudonymised=True, users=[])
    return ShopperListPublic(
        pseudonymised=False,
        users=[ShopperPublic(user_id=s.user_id, events=s.events, last_event=s.last_event) for s in found],
    )


@router.post(
    "/search/duplicates",
    response_model=SimilarPublic,
    openapi_extra=ONE_IMAGE_BODY,
    operation_id="searchDuplicates",
    summary="Products showing a near-duplicate of a photo",
    responses=problems(413, 415, 422),
)
async def duplicates(
    request: Request, _caller: ReaderDep, settings: SettingsDep, catalog: CatalogDep
) -> SimilarPublic:
    """Check a photo (multipart `file`) against the catalogue with ingestion's rule, without storing it."""
    (upload,) = await read_uploads(request, 1, settings.max_parts)
    return similar_public(await run_in_threadpool(find_duplicates, catalog, upload.data))
