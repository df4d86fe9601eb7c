"""POST /v1/classify: images in, categories (and embeddings) out, through admission and the micro-batcher.

The route is declared to FastAPI like any other (parameters, security, responses: the OpenAPI document), but
`ClassifyRoute.serve` answers it without FastAPI's per-request machinery: it checks the key with the same
`authorize`, validates the query with the same `ClassifyQuery` model and answers with the same
`classify_images`. Dependency solving, response-model validation and the framework's middleware cost as much per
request as the rest of the work put together, and this is the route that takes the traffic; the app's fast lane
(`FastLaneMiddleware`) sends its requests to `serve` directly. Errors go through the app's exception handlers.
"""

from __future__ import annotations

import json
import time
from typing import Annotated
from urllib.parse import parse_qsl

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from shoplens.api.deps import ReaderDep, ServiceDep, authorize
from shoplens.api.errors import http_error
from shoplens.api.schemas import ClassifyPublic
from shoplens.api.service import Service
from shoplens.api.uploads import MULTIPART_BODY, Upload, read_uploads
from shoplens.errors import ImageError
from shoplens.imaging import PreprocessConfig, declared_size, decode_image, read_image
from shoplens.inference.batcher import BatchResult
from shoplens.inference.store import LoadedModel

INLINE_PIXELS = 128 * 128  # up to this many pixels in a request are decoded on the event loop (≈0.5 ms)
JSON = "application/json"
ERRORS = {
    400: {"description": "Corrupt or truncated image, bad form, too many parts"},
    401: {"description": "Missing or invalid API key"},
    413: {"description": "Body or image (pixels) too large"},
    415: {"description": "Not an accepted image format (decided from the bytes)"},
    503: {
        "description": "No model loaded, too busy (queue or in-flight limit), or shutting down; see Retry-After"
    },
    504: {"description": "Not answered within the request deadline"},
}


class ClassifyQuery(BaseModel):
    """The query parameters of POST /v1/classify."""

    top_k: int = Field(3, ge=1, le=100, description="Categories per image.")
    embed: bool = Field(False, description="Include the L2-normalised embedding.")


class ClassifyRoute(APIRoute):
    """POST /v1/classify served straight from ASGI: authorise, validate the query, classify (see the module)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            await super().handle(scope, receive, send)  # 405, as any route
            return
        await self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one classify request from ASGI: key, query, images, JSON."""
        request = Request(scope, receive)
        service: Service = request.app.state.service
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        bearer = token if scheme.lower() == "bearer" and token else None
        authorize(service, request.headers.get("x-api-key"), bearer, "reader")
        try:
            query = ClassifyQuery.model_validate(dict(parse_qsl(scope["query_string"].decode("latin-1"))))
        except ValidationError as e:
            raise RequestValidationError(
                [{**err, "loc": ("query", *err["loc"])} for err in e.errors()]
            ) from None
        response = await classify_images(request, service, query)
        await response(scope, receive, send)


router = APIRouter(prefix="/v1", tags=["classify"], route_class=ClassifyRoute)


@router.post(
    "/classify",
    response_model=ClassifyPublic,
    response_model_exclude_none=True,
    openapi_extra=MULTIPART_BODY,
    responses=ERRORS,
    summary="Classify one image (`file`) or several (`files`)",
)
async def classify(
    request: Request, _caller: ReaderDep, service: ServiceDep, query: Annotated[ClassifyQuery, Query()]
) -> Response:
    """Top-k categories with calibrated probabilities and a review flag for each uploaded image."""
    return await classify_images(request, service, query)


async def classify_images(request: Request, service: Service, query: ClassifyQuery) -> Response:
    """Read, decode and classify the request's images; the JSON answer (a ClassifyPublic)."""
    start = time.perf_counter()
    settings = service.settings
    deadline = service.deadline()
    model = service.handle.current()  # this request keeps this model, whatever is activated meanwhile
    if model is None:
        raise HTTPException(503, "no model is loaded yet", headers={"Retry-After": "1"})
    uploads = await read_uploads(request, settings.max_files, settings.max_parts)
    read = time.perf_counter()
    if small_enough_inline(uploads):
        arrays, cues = decode_all(uploads, model.preprocess, settings.max_pixels)
    else:  # a large photo takes milliseconds: off the event loop
        arrays, cues = await run_in_threadpool(decode_all, uploads, model.preprocess, settings.max_pixels)
    decoded = time.perf_counter()
    ticket = request.scope["state"]["ticket"]
    try:
        futures = service.batcher.submit_all(model.predictor, arrays, deadline)
    finally:
        ticket.queued()  # queued or refused: the batcher need not wait for these images
    results = await service.batcher.wait(futures, deadline)
    timing = {
        "read": (read - start) * 1000,
        "decode": (decoded - read) * 1000,
        "queue": max(r.queue_ms for r in results),
        "inference": max(r.inference_ms for r in results),
        "total": (time.perf_counter() - start) * 1000,
    }
    body = {
        "results": [public(up, res, model, query, c) for up, res, c in zip(uploads, results, cues)],
        "model": {"name": model.name, "version": model.version},
        "timing_ms": {k: round(v, 3) for k, v in timing.items()},
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type=JSON)


def small_enough_inline(uploads: list[Upload]) -> bool:
    """Whether all images together declare so few pixels that decoding them costs less than a thread hop."""
    total = 0
    for up in uploads:
        size = declared_size(up.data)
        if size is None:
            return False  # let the thread (and decode_image's checks) deal with it
        total += size[0] * size[1]
    return total <= INLINE_PIXELS


def decode_all(
    uploads: list[Upload], preprocess: PreprocessConfig, max_pixels: int
) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """Decode and preprocess every upload (model inputs and photo cues); the first bad one becomes a 4xx."""
    arrays, cues = [], []
    for up in uploads:
        try:
            array, cue = read_image(decode_image(up.data, max_pixels=max_pixels), preprocess)
        except ImageError as e:
            raise http_error(e, f"image {up.index}: " if len(uploads) > 1 else "") from e
        arrays.append(array)
        cues.append(cue)
    return arrays, cues


def public(
    upload: Upload, result: BatchResult, model: LoadedModel, query: ClassifyQuery, cues: dict[str, float]
) -> dict:
    """One image's answer (a ClassificationPublic): top-k, review flag, status, and the embedding when asked."""
    pred = model.predictor.prediction(result.probs, result.embedding, top_k=query.top_k, cues=cues)
    item: dict = {"index": upload.index}
    if upload.filename is not None:
        item["filename"] = upload.filename
    item["top"] = [{"label": label, "probability": round(p, 6)} for label, p in pred.top]
    item["needs_review"] = pred.needs_review
    item["status"] = pred.status
    if pred.ood_score is not None:
        item["ood_score"] = pred.ood_score
    if query.embed:
        item["embedding"] = result.embedding.tolist()
    return item
