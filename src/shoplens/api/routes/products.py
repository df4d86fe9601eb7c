"""Products: create with images (Idempotency-Key honoured), list with filters, get, update, delete, duplicates."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shoplens.api.catalog_deps import CatalogDep, RowId, ScopeDep, SessionDep
from shoplens.api.catalog_schemas import (
    DuplicatePublic,
    ProductCreate,
    ProductPage,
    ProductPublic,
    ProductUpdate,
    product_public,
)
from shoplens.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor
from shoplens.api.deps import MerchantDep, ReaderDep, SettingsDep, acting_merchant
from shoplens.api.errors import invalid
from shoplens.api.forms import read_form
from shoplens.api.openapi import problems
from shoplens.api.uploads import FILE_FIELDS, IMAGE_TYPES
from shoplens.catalog import products
from shoplens.catalog.colours import (
    COLOUR_NAMES,
    MIN_ATTRIBUTE_SCORE,
    MIN_COLOUR_SHARE,
    check_colours,
    parse_attributes,
)
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.products import IdempotencyKey, request_digest
from shoplens.catalog.queries import (
    Flag,
    ProductFilter,
    check_owner,
    duplicates_of,
    get_product,
    list_products,
    update_product,
)
from shoplens.db.catalog import Product
from shoplens.errors import CatalogInputError
from shoplens.fields import MAX_INT
from shoplens.imaging.decode import check_pixel_budget

router = APIRouter(prefix="/v1/products", tags=["products"])
MAX_FILTERS = 20  # colour or attribute values in one list request
FilterValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
IMAGES_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["product"],
                    "properties": {
                        "product": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "The product as JSON (ProductCreate).",
                        },
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                },
                "encoding": {"files": {"contentType": IMAGE_TYPES}},
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
    async with read_form(request, max_files, max_parts) as form:
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


def _render(product: Product) -> dict:
    """A product as the API shows it, as JSON data (kept as the answer to an idempotent create)."""
    return json.loads(product_public(product).model_dump_json())


@router.post(
    "",
    status_code=201,
    response_model=ProductPublic,
    openapi_extra=IMAGES_BODY,
    operation_id="createProduct",
    summary="Create a product with images (or update the merchant's product of that SKU)",
    responses={
        201: {"description": "Created, or the merchant's product of that SKU changed"},
        200: {
            "description": "Nothing changed: that SKU already holds exactly this; or a retry with the same "
            "Idempotency-Key, answered as the first time (Idempotent-Replayed: true)"
        },
        **problems(409, 415, 507),
    },
)
async def create_product(
    request: Request,
    caller: MerchantDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Retries with the same key get the first answer.")
    ] = None,
) -> Response:
    """Store the product, its images (made safe), their category, quality, duplicates and embeddings.

    A (merchant, SKU) is one product: sent again, its declared fields are replaced by the new ones and images it
    does not hold yet are added (its images already there are judged again by a changed category).
    """
    body, images = await read_product_form(request, settings.max_files, settings.max_parts)
    check_pixel_budget(images, settings.max_request_pixels)  # before any of them is decoded
    merchant = acting_merchant(caller, body.merchant, "product.merchant")
    config = catalog.config
    blur = config.blur_faces_shopper if body.shopper_upload else config.blur_faces_merchant
    product = ProductIn(
        merchant, body.sku, body.title, body.brand, body.price, body.category, body.stock, body.status
    )
    key = None
    if idempotency_key:
        key = IdempotencyKey(caller.owner, idempotency_key, request_digest(body.model_dump_json(), images))
    item = IngestItem("request", product, images, blur)
    answer = await run_in_threadpool(products.create_product, catalog, item, _render, key)
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.payload, status_code=201 if answer.created else 200, headers=headers)


@router.get("", response_model=ProductPage, operation_id="listProducts", summary="List products with filters")
def list_(
    _caller: ReaderDep,
    session: SessionDep,
    scope: ScopeDep,
    flag: Flag | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title or brand.")] = None,
    colour: Annotated[
        list[FilterValue],
        Query(
            max_length=MAX_FILTERS,
            description="Colours, any of them (repeat, or a comma list): an image shows it with a share of "
            f"at least {MIN_COLOUR_SHARE}. Names: {', '.join(COLOUR_NAMES)}.",
        ),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    attribute: Annotated[
        list[FilterValue],
        Query(
            max_length=MAX_FILTERS,
            description="Attribute values as attribute:value (e.g. pattern:striped; repeat, or a comma list): "
            f"an image scores it at least {MIN_ATTRIBUTE_SCORE}. Values of one attribute: any of them; "
            "several attributes: each of them.",
        ),
    ] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_INT, description="Rows to skip (small pages; else `cursor`).")
    ] = 0,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="A `next_cursor` from the previous page.")
    ] = None,
) -> ProductPage:
    """Products matching every filter given, newest first; `next_cursor` continues the list (null at its end)."""
    try:
        colours = check_colours(colour)
    except CatalogInputError as e:
        raise invalid(("query", "colour"), str(e)) from None
    try:
        attributes = parse_attributes(attribute)
    except CatalogInputError as e:
        raise invalid(("query", "attribute"), str(e)) from None
    filters = (scope.category, scope.merchant, flag, q, colours, attributes, scope.statuses, scope.in_stock)
    if cursor is not None and offset:
        raise invalid(("query", "offset"), "give cursor or offset, not both")
    before = None if cursor is None else decode_cursor(cursor, filters)
    chosen = ProductFilter(
        scope.category,
        scope.merchant,
        flag,
        q,
        limit + 1,
        offset,
        before,
        colours,
        attributes,
        scope.statuses,
        scope.in_stock,
    )
    total, items = list_products(session, chosen)
    page, more = items[:limit], len(items) > limit
    return ProductPage(
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_cursor(page[-1].id, filters) if more else None,
        items=[product_public(p) for p in page],
    )


@router.get(
    "/{product_id}",
    response_model=ProductPublic,
    operation_id="getProduct",
    summary="One product",
    responses=problems(404),
)
def get(product_id: RowId, _caller: ReaderDep, session: SessionDep) -> ProductPublic:
    """A product with its images and flags."""
    return product_public(get_product(session, product_id))


@router.patch(
    "/{product_id}",
    response_model=ProductPublic,
    operation_id="updateProduct",
    summary="Change a product's declared fields",
    responses=problems(404),
)
def update(
    product_id: RowId, changes: ProductUpdate, caller: MerchantDep, catalog: CatalogDep, session: SessionDep
) -> ProductPublic:
    """Change title, brand, price, category, stock or status (a merchant only its own products)."""
    categories = catalog.categories()
    with session.begin():
        product = get_product(session, product_id)
        check_owner(product, caller.merchant)
        changed = changes.model_dump(exclude_unset=True)
        update_product(session, product, changed, categories, catalog.config.mismatch)
        session.flush()
        return product_public(product)


@router.delete(
    "/{product_id}",
    status_code=204,
    operation_id="deleteProduct",
    summary="Delete a product",
    responses=problems(404),
)
def remove(product_id: RowId, caller: MerchantDep, catalog: CatalogDep) -> Response:
    """Delete a product, its images' rows and their vectors (a merchant only its own)."""
    products.delete_product(catalog, product_id, caller.merchant)
    return Response(status_code=204)


@router.get(
    "/{product_id}/duplicates",
    response_model=list[DuplicatePublic],
    operation_id="listProductDuplicates",
    summary="Near-duplicates of a product",
    responses=problems(404),
)
def duplicates(product_id: RowId, _caller: ReaderDep, session: SessionDep) -> list[DuplicatePublic]:
    """Other products showing a near-duplicate of one of this product's images."""
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
