"""Images sent as JSON — `{"image": {"base64": …}}`, `{"image": {"url": …}}` or `{"images": [...]}` — read into
the same uploads a multipart form gives; URLs are fetched under the ingestion fetch policy (allowed hosts only,
no internal addresses unless allowed, capped bytes, every redirect checked).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shoplens.api.errors import HTTPProblem, invalid
from shoplens.api.openapi import REF, component
from shoplens.api.uploads import IMAGE_FORM, Upload, read_uploads
from shoplens.config import Settings
from shoplens.imaging.decode import ACCEPTED_NAMES
from shoplens.inference.batcher import DeadlineExceededError

MAX_URL = 2048
T = TypeVar("T")


class Base64Image(BaseModel):
    """An image file's bytes, base64-encoded."""

    model_config = ConfigDict(extra="forbid")
    base64: str = Field(
        min_length=1,
        json_schema_extra={"format": "base64"},
        description=f"The image file ({', '.join(ACCEPTED_NAMES[:-1])} or {ACCEPTED_NAMES[-1]}), base64 with the "
        "standard alphabet.",
    )


class UrlImage(BaseModel):
    """An image on the web, fetched by the service."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1,
        max_length=MAX_URL,
        description="http(s) URL on a host the service allows (SHOPLENS_IMAGE_FETCH_HOSTS); else 422.",
    )


ImageRef = Base64Image | UrlImage


class OneImage(BaseModel):
    """One image."""

    model_config = ConfigDict(extra="forbid")
    image: ImageRef


class ManyImages(BaseModel):
    """Several images, answered in this order."""

    model_config = ConfigDict(extra="forbid")
    images: list[ImageRef] = Field(min_length=1)


IMAGES_JSON = TypeAdapter(OneImage | ManyImages)
# The request body in the OpenAPI document: a multipart form or JSON.
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": IMAGE_FORM,
            "application/json": {
                "schema": component("ImagesJson", IMAGES_JSON.json_schema(ref_template=REF)),
            },
        },
    }
}


async def read_images(request: Request, settings: Settings, deadline: float) -> list[Upload]:
    """The request's images, from a multipart form (`file`/`files`) or a JSON body (`image`/`images`)."""
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return await read_uploads(request, settings.max_files, settings.max_parts)
    hint = 'send {"image": {"base64": …} or {"url": …}} or {"images": [one of those, …]}'
    parsed = parse_json(IMAGES_JSON, await request.body(), hint)
    refs = [parsed.image] if isinstance(parsed, OneImage) else parsed.images
    if len(refs) > settings.max_files:
        raise HTTPException(400, f"too many images: at most {settings.max_files} in one request")
    where = ("body", "image") if isinstance(parsed, OneImage) else ("body", "images")
    blobs = await image_bytes(refs, where, settings, deadline)
    return [Upload(i, None, blob) for i, blob in enumerate(blobs)]


def parse_json(adapter: TypeAdapter[T], raw: bytes, hint: str) -> T:
    """A JSON body validated by `adapter`: 400 when it is not JSON, 422 (`hint`, each error) when it is invalid."""
    try:
        return adapter.validate_json(raw)
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise HTTPException(400, "the body is not valid JSON") from None
        errors = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]} for err in e.errors()
        ]
        raise HTTPProblem(422, hint, "validation_error", errors=errors) from None


async def image_bytes(
    refs: list[ImageRef], where: tuple[str, ...], settings: Settings, deadline: float
) -> list[bytes]:
    """The bytes of each image, in order: base64 decoded, URLs fetched (4xx naming the first bad one)."""
    data: dict[int, bytes] = {}
    urls = {i: ref.url for i, ref in enumerate(refs) if isinstance(ref, UrlImage)}
    for i, ref in enumerate(refs):
        if isinstance(ref, Base64Image):
            data[i] = _decode(ref.base64, (*where, *(() if len(refs) == 1 else (i,)), "base64"))
    if urls:
        data.update(await _fetch(urls, settings, deadline))
    return [data[i] for i in range(len(refs))]


def _decode(text: str, where: tuple[str | int, ...]) -> bytes:
    """Base64 to bytes (422 naming the field when it is not base64)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(where, "not valid base64", "base64_invalid") from None


async def _fetch(urls: dict[int, str], settings: Settings, deadline: float) -> dict[int, bytes]:
    """The images at the URLs, under the fetch policy; 422 (`image_fetch_failed`) naming the first that failed."""
    from shoplens.catalog.fetch import (  # the web client only for requests that need it
        FetchPolicy,
        fetch_many,
    )

    hosts = frozenset(h.strip() for h in settings.image_fetch_hosts.split(",") if h.strip())
    if not hosts:
        raise HTTPProblem(
            422, "image URLs are not enabled on this service; send base64", "image_fetch_failed"
        )
    left = max(0.1, deadline - time.monotonic())
    policy = FetchPolicy(
        allowed_hosts=hosts,
        allow_private=settings.image_fetch_private,
        max_bytes=settings.max_upload_bytes,
        max_total_bytes=settings.max_upload_bytes,  # together as much as one uploaded body may hold
        connect_timeout=min(5.0, left),
        read_timeout=min(10.0, left),
        total_timeout=left,
        retries=1,
        backoff_s=0.1,
        max_backoff_s=0.5,
    )
    try:
        async with asyncio.timeout(left):  # the retries too: a slow host may not hold the request past it
            fetched = await fetch_many(list(urls.values()), policy)
    except TimeoutError:
        raise DeadlineExceededError("the image URLs were not fetched within the request deadline") from None
    results = dict(zip(urls, fetched))
    for i, result in results.items():
        if result.data is None or not result.ok:
            raise HTTPProblem(422, f"image {i} ({result.url[:200]}): {result.error}", "image_fetch_failed")
    return {i: result.data for i, result in results.items() if result.data is not None}
