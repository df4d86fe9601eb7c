"""Search: GET /v1/search?q= (words: full text and text-to-image, fused), POST /v1/search/similar (a photo or a
product: products that look like it)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shoplens.api.catalog_deps import CatalogDep, ScopeDep
from shoplens.api.catalog_schemas import SimilarPublic, TextSearchPublic, similar_public, text_search_public
from shoplens.api.deps import ReaderDep, ServiceDep
from shoplens.api.errors import invalid
from shoplens.api.forms import read_form
from shoplens.api.json_images import OneImage, image_bytes, parse_json
from shoplens.api.openapi import REF, component, problems
from shoplens.api.service import Service
from shoplens.api.uploads import IMAGE_TYPES
from shoplens.catalog.similar import find_similar
from shoplens.catalog.textsearch import MAX_QUERY, query_terms, search_by_text
from shoplens.fields import MAX_INT

router = APIRouter(prefix="/v1/search", tags=["search"])


class ProductQuery(BaseModel):
    """Look-alikes of an existing product."""

    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=1, le=MAX_INT, strict=True)  # JSON true, "3" or 3.0 is no product id


SIMILAR_JSON = TypeAdapter(ProductQuery | OneImage)
QUERY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A photo to search with.",
                        },
                        "product_id": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_INT,
                            "description": "Or: an existing product to find look-alikes of.",
                        },
                    },
                    "oneOf": [{"required": ["file"]}, {"required": ["product_id"]}],
                },
                "encoding": {"file": {"contentType": IMAGE_TYPES}},
            },
            "application/json": {
                "schema": component("SimilarQuery", SIMILAR_JSON.json_schema(ref_template=REF)),
            },
        },
    }
}


async def read_query(request: Request, service: Service) -> tuple[bytes | None, int | None]:
    """A photo (multipart `file`, or JSON `image`: base64 or URL) or a `product_id` (form field or JSON)."""
    content_type = request.headers.get("content-type", "").lower()
    raw_id: object = None
    data: bytes | None = None
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with read_form(request, max_files=1, max_fields=8) as form:
            upload, raw_id = form.get("file"), form.get("product_id")
            if isinstance(upload, UploadFile):
                data = await upload.read()
    elif content_type.startswith("application/json"):
        hint = 'send {"product_id": …} or {"image": {"base64": …} or {"url": …}}'
        query = parse_json(SIMILAR_JSON, await request.body(), hint)
        if isinstance(query, ProductQuery):
            return None, query.product_id
        (data,) = await image_bytes([query.image], ("body", "image"), service.settings, service.deadline())
        return data, None
    else:
        raise HTTPException(415, "send a photo as multipart 'file', or a product_id (form field or JSON)")
    if (data is None) == (raw_id is None):
        raise HTTPException(422, "give exactly one of 'file' (a photo) or 'product_id'")
    if raw_id is None:
        return data, None
    try:
        product_id = int(str(raw_id))
    except ValueError:
        raise HTTPException(422, f"product_id must be an integer, not {str(raw_id)[:40]!r}") from None
    if not 1 <= product_id <= MAX_INT:
        raise HTTPException(422, f"product_id must be between 1 and {MAX_INT}")
    return None, product_id


@router.get(
    "",
    response_model=TextSearchPublic,
    operation_id="searchProductsByText",
    summary="Search by text",
)
async def search_text(
    _caller: ReaderDep,
    catalog: CatalogDep,
    scope: ScopeDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="Words, e.g. red summer dress.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> TextSearchPublic:
    """Products whose title or brand holds the words, and (with an image–text backbone) whose photos look like
    them, fused by reciprocal rank."""
    if not query_terms(q):  # "   ", "%", "€": nothing to match and nothing to embed
        raise invalid(("query", "q"), "q holds no word (letters or digits)")
    found = await run_in_threadpool(partial(search_by_text, catalog, q, k=k, scope=scope))
    return text_search_public(found)


@router.post(
    "/similar",
    response_model=SimilarPublic,
    openapi_extra=QUERY_BODY,
    operation_id="searchSimilarProducts",
    summary="Search by image (a photo) or by product",
    responses=problems(404, 413, 415),
)
async def search(
    request: Request,
    _caller: ReaderDep,
    catalog: CatalogDep,
    scope: ScopeDep,
    service: ServiceDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    min_similarity: Annotated[
        float,
        Query(ge=-1, le=1, description="Leave out weaker matches (cosine; by default none: k come back)."),
    ] = -1.0,
    colour_weight: Annotated[
        float,
        Query(
            ge=0,
            le=1,
            description="Blend colour into the ranking: (1 − w) · cosine + w · colour similarity of the "
            "dominant colours (0: by look alone).",
        ),
    ] = 0.0,
) -> SimilarPublic:
    """Up to k products most similar to the photo (or product), each with the image that matched."""
    data, product_id = await read_query(request, service)
    found = await run_in_threadpool(
        partial(
            find_similar,
            catalog,
            photo=data,
            product_id=product_id,
            k=k,
            min_similarity=min_similarity,
            scope=scope,
            colour_weight=colour_weight,
        )
    )
    return similar_public(found)
