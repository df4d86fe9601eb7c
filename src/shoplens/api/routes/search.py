"""POST /v1/search/similar: products that look like an uploaded photo or like an existing product."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shoplens.api.catalog_deps import CatalogDep
from shoplens.api.catalog_schemas import SimilarPublic, similar_public
from shoplens.api.deps import ReaderDep
from shoplens.catalog.similar import find_similar

router = APIRouter(prefix="/v1/search", tags=["search"])
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
                            "description": "Or: an existing product to find look-alikes of.",
                        },
                    },
                }
            },
            "application/json": {
                "schema": {"type": "object", "properties": {"product_id": {"type": "integer"}}}
            },
        },
    }
}


async def read_query(request: Request) -> tuple[bytes | None, int | None]:
    """An uploaded photo (`file`) or a `product_id`, from a multipart form or a JSON body."""
    content_type = request.headers.get("content-type", "").lower()
    raw_id: object = None
    data: bytes | None = None
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form(max_files=1, max_fields=8) as form:
            upload, raw_id = form.get("file"), form.get("product_id")
            if isinstance(upload, UploadFile):
                data = await upload.read()
    elif content_type.startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "the body is not valid JSON") from None
        raw_id = body.get("product_id") if isinstance(body, dict) else None
    else:
        raise HTTPException(415, "send a photo as multipart 'file', or a product_id (form field or JSON)")
    if (data is None) == (raw_id is None):
        raise HTTPException(422, "give exactly one of 'file' (a photo) or 'product_id'")
    if raw_id is None:
        return data, None
    try:
        return None, int(str(raw_id))
    except ValueError:
        raise HTTPException(422, f"product_id must be an integer, not {str(raw_id)[:40]!r}") from None


@router.post("/similar", response_model=SimilarPublic, openapi_extra=QUERY_BODY, summary="Search by image")
async def search(
    request: Request,
    _caller: ReaderDep,
    catalog: CatalogDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    min_similarity: Annotated[
        float, Query(ge=-1, le=1, description="Leave out weaker matches (cosine).")
    ] = 0.0,
    category: Annotated[str | None, Query(description="Only products declared in this category.")] = None,
    merchant: Annotated[str | None, Query(description="Only this merchant's products.")] = None,
) -> SimilarPublic:
    """Up to k products most similar to the photo (or product), each with the image that matched."""
    data, product_id = await read_query(request)
    found = await run_in_threadpool(
        partial(
            find_similar,
            catalog,
            photo=data,
            product_id=product_id,
            k=k,
            min_similarity=min_similarity,
            category=category,
            merchant=merchant,
        )
    )
    return similar_public(found)
