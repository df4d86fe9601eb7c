"""Products: create with images (Idempotency-Key honoured), list with filters, get, update, delete, duplicates."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shoplens.api.catalog_schemas import (
    DuplicatePublic,
    ProductCreate,
    ProductPage,
    ProductPublic,
    ProductUpdate,
    product_public,
)
from shoplens.api.deps import MerchantDep, ReaderDep, ServiceDep, acting_merchant
from shoplens.api.uploads import FILE_FIELDS
from shoplens.catalog.ingest import IngestItem, ProductIn
from shoplens.catalog.queries import (
    Flag,
    ProductFilter,
    check_owner,
    delete_product,
    duplicates_of,
    get_product,
    list_products,
    update_product,
)
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import IdempotencyRecord
from shoplens.errors import ConflictError

router = APIRouter(prefix="/v1/products", tags=["products"])
IMAGES_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["product"],
                    "properties": {
                        "product": {"type": "string", "description": "The product as JSON (ProductCreate)."},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    }
}


async def read_product_form(
    request: Request, max_files: int, max_parts: int
) -> tuple[ProductCreate, list[bytes]]:
    """The `product` JSON field and the image files of a multipart request (4xx when it is not one)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(
            415, "send multipart/form-data: the product as JSON in 'product', images in 'files'"
        )
    async with request.form(max_files=max_files, max_fields=max_parts) as form:
        raw = form.get("product")
        if not isinstance(raw, str):
            raise HTTPException(422, "missing form field 'product' (the product as JSON)")
        try:
            body = ProductCreate.model_validate_json(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, x['loc'])) or 'product'}: {x['msg']}" for x in e.errors()
            )
            raise HTTPException(422, f"product: {problems}") from None
        images = [
            await v.read() for k, v in form.multi_items() if k in FILE_FIELDS and isinstance(v, UploadFile)
        ]
    if not images:
        raise HTTPException(422, "a product needs at least one image (multipart field 'files')")
    return body, images


def request_hash(body: ProductCreate, images: list[bytes]) -> str:
    """A digest of what was asked (the product and its images), to tell a retry from a different request."""
    h = hashlib.sha256(body.model_dump_json().encode())
    for data in images:
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def replay(catalog: Catalog, owner: str, key: str, digest: str) -> JSONResponse | None:
    """The stored answer to an earlier request with this key, or None; 409 when the key came with another body."""
    with catalog.sessions() as session:
        rec = session.get(IdempotencyRecord, (owner, key))
    if rec is None:
        return None
    if rec.request_hash != digest:
        raise ConflictError("this Idempotency-Key was used for a different request")
    return JSONResponse(
        json.loads(rec.response), status_code=rec.status_code, headers={"Idempotent-Replayed": "true"}
    )


def create(
    catalog: Catalog, body: ProductCreate, merchant: str, images: list[bytes]
) -> tuple[int, ProductPublic]:
    """Ingest the product and its images; 201 for a new or changed product, 200 when it was already there."""
    blur = catalog.config.blur_faces_shopper if body.shopper_upload else catalog.config.blur_faces_merchant
    product = ProductIn(
        merchant, body.sku, body.title, body.brand, body.price, body.category, body.stock, body.status
    )
    (outcome,) = catalog.ingestor().ingest([IngestItem("request", product, images, blur)])
    if outcome.status == "failed":
        assert outcome.exception is not None
        raise outcome.exception
    with catalog.sessions() as session:
        assert outcome.product_id is not None
        return (201 if outcome.status == "done" else 200), product_public(
            get_product(session, outcome.product_id)
        )


def remember(
    catalog: Catalog, owner: str, key: str, digest: str, status: int, payload: dict[str, Any]
) -> None:
    """Store the answer for an Idempotency-Key (a concurrent twin that stored first wins)."""
    try:
        with catalog.sessions.begin() as session:
            session.add(
                IdempotencyRecord(
                    owner=owner,
                    key=key,
                    request_hash=digest,
                    status_code=status,
                    response=json.dumps(payload),
                )
            )
    except IntegrityError:
        pass


@router.post(
    "",
    status_code=201,
    response_model=ProductPublic,
    openapi_extra=IMAGES_BODY,
    summary="Create a product with images",
)
async def create_product(
    request: Request,
    caller: MerchantDep,
    service: ServiceDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Retries with the same key get the first answer.")
    ] = None,
) -> Response:
    """Store the product, its images (made safe), their category, quality, duplicates and embeddings."""
    settings = service.settings
    body, images = await read_product_form(request, settings.max_files, settings.max_parts)
    merchant = acting_merchant(caller, body.merchant, "product.merchant")
    catalog = await run_in_threadpool(service.catalog)
    digest = request_hash(body, images)
    if idempotency_key:
        stored = await run_in_threadpool(replay, catalog, caller.owner, idempotency_key, digest)
        if stored is not None:
            return stored
    status, product = await run_in_threadpool(create, catalog, body, merchant, images)
    payload = json.loads(product.model_dump_json())
    if idempotency_key:
        await run_in_threadpool(remember, catalog, caller.owner, idempotency_key, digest, status, payload)
    return JSONResponse(payload, status_code=status)


@router.get("", response_model=ProductPage, summary="List products with filters")
def list_(
    _caller: ReaderDep,
    service: ServiceDep,
    category: str | None = None,
    merchant: str | None = None,
    flag: Flag | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title or brand.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProductPage:
    """Products matching every filter given, newest first."""
    catalog = service.catalog()
    with catalog.sessions() as session:
        total, items = list_products(session, ProductFilter(category, merchant, flag, q, limit, offset))
        return ProductPage(total=total, limit=limit, offset=offset, items=[product_public(p) for p in items])


@router.get("/{product_id}", response_model=ProductPublic, summary="One product")
def get(product_id: int, _caller: ReaderDep, service: ServiceDep) -> ProductPublic:
    """A product with its images and flags."""
    with service.catalog().sessions() as session:
        return product_public(get_product(session, product_id))


@router.patch("/{product_id}", response_model=ProductPublic, summary="Change a product's declared fields")
def update(
    product_id: int, changes: ProductUpdate, caller: MerchantDep, service: ServiceDep
) -> ProductPublic:
    """Change title, brand, price, category, stock or status (a merchant only its own products)."""
    catalog = service.catalog()
    with catalog.sessions.begin() as session:
        product = get_product(session, product_id)
        check_owner(product, caller.merchant)
        update_product(session, product, changes.model_dump(exclude_unset=True), catalog.categories())
        session.flush()
        return product_public(product)


@router.delete("/{product_id}", status_code=204, summary="Delete a product")
def remove(product_id: int, caller: MerchantDep, service: ServiceDep) -> Response:
    """Delete a product, its images' rows and their vectors (a merchant only its own)."""
    catalog = service.catalog()
    with catalog.sessions.begin() as session:
        product = get_product(session, product_id)
        check_owner(product, caller.merchant)
        ids = delete_product(session, product)
    catalog.space.remove(np.array(ids, dtype=np.int64))
    return Response(status_code=204)


@router.get(
    "/{product_id}/duplicates", response_model=list[DuplicatePublic], summary="Near-duplicates of a product"
)
def duplicates(product_id: int, _caller: ReaderDep, service: ServiceDep) -> list[DuplicatePublic]:
    """Other products showing a near-duplicate of one of this product's images."""
    with service.catalog().sessions() as session:
        product = get_product(session, product_id)
        return [
            DuplicatePublic(
                image_id=mine.id,
                duplicate_image_id=other.id,
                group=other.duplicate_group or 0,
                product=product_public(get_product(session, prod.id)),
            )
            for mine, other, prod in duplicates_of(session, product)
        ]
