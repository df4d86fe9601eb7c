"""POST /v1/classify: images in, categories (and embeddings) out, through admission and the micro-batcher.

The route is declared to FastAPI like any other (parameters, security, responses: the OpenAPI document), but
`ClassifyRoute.serve` answers it without FastAPI's per-request machinery: it checks the key with the same
`authorize`, validates the query with the same `ClassifyQuery` model and answers with the same
`classify_images`. Dependency solving, response-model validation and the framework's middleware cost as much per
request as the rest of the work put together, and this is the route that takes the traffic; the app's fast lane
(`FastLaneMiddleware`) sends its requests to `serve` directly. Errors go through the app's exception handlers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from PIL import Image
from pydantic import BaseModel, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from shoplens.api.deps import ReaderDep, ServiceDep, authorize
from shoplens.api.errors import http_error
from shoplens.api.json_images import IMAGE_BODY, read_images
from shoplens.api.schemas import ClassifyPublic
from shoplens.api.service import Service
from shoplens.api.uploads import Upload
from shoplens.errors import ImageError
from shoplens.imaging import decode_image
from shoplens.imaging.colour import photo_colours
from shoplens.imaging.decode import check_pixel_budget
from shoplens.inference.batcher import BatchResult, DeadlineExceededError
from shoplens.inference.store import LoadedModel

INLINE_PIXELS = 128 * 128  # up to this many pixels in a request are decoded on the event loop (≈0.5 ms)
JSON = "application/json"
TOP_K = 3
ERRORS = {
    400: {"description": "Corrupt or truncated image, bad form, too many parts"},
    401: {"description": "Missing or invalid API key"},
    413: {"description": "Body or image (pixels) too large, or too many pixels in one request"},
    415: {"description": "Not an accepted image format (decided from the bytes)"},
    422: {
        "description": "Invalid query or JSON body, bad base64, an image URL not fetched (not allowed, failed), "
        "or an image with an absurd aspect ratio"
    },
    503: {
        "description": "No model loaded, too busy (queue or in-flight limit), or shutting down; see Retry-After"
    },
    504: {"description": "Not answered within the request deadline"},
}


class ClassifyQuery(BaseModel):
    """The query parameters of POST /v1/classify."""

    top_k: int | None = Field(None, ge=1, le=100, description=f"Most categories per image (default {TOP_K}).")
    max_results: int | None = Field(
        None, ge=1, le=100, description="The same as top_k, by the name other vision APIs use; give one."
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Leave out categories below this probability.")
    embed: bool = Field(False, description="Include the L2-normalised embedding.")
    colours: bool = Field(False, description="Include the product's dominant colours (name, hex, share).")

    @model_validator(mode="after")
    def _one_limit(self) -> ClassifyQuery:
        if self.top_k is not None and self.max_results is not None and self.top_k != self.max_results:
            raise ValueError("top_k and max_results are the same limit: give one of them")
        return self

    @property
    def limit(self) -> int:
        """The most categories to answer per image."""
        return self.top_k or self.max_results or TOP_K


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
        authorize(service, request.headers.get("x-api-key"), bearer, "reader", request)
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
    openapi_extra=IMAGE_BODY,
    responses=ERRORS,
    operation_id="classifyImages",
    summary="Classify one image or several (multipart `file`/`files`, or JSON `image`/`images`)",
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
        raise HTTPException(503, service.handle.unavailable_reason(), headers={"Retry-After": "1"})
    uploads = await read_images(request, settings, deadline)
    read = time.perf_counter()
    try:
        pixels, declared = check_pixel_budget([up.data for up in uploads], settings.max_request_pixels)
    except ImageError as e:
        raise http_error(e) from e
    reading = (model.predictor.read, settings.max_pixels, deadline, model.predictor.decode_side)
    if declared and pixels <= INLINE_PIXELS:  # cheaper than a thread hop (undeclared: decode_image's checks)
        arrays, cues = decode_all(uploads, *reading)
    else:  # a large photo takes milliseconds: off the event loop, and never past the deadline
        arrays, cues = await decode_off_loop(uploads, *reading)
    decoded = time.perf_counter()
    ticket = request.scope["state"]["ticket"]
    try:
        futures = service.batcher.submit_all(model.predictor, arrays, deadline)
    finally:
        ticket.queued()  # queued or refused: the batcher need not wait for these images
    results = await service.batcher.wait(futures, deadline)
    palettes: list = [None] * len(uploads)
    if query.colours:  # decodes the photos again, in colour, only when colours are asked for
        palettes = await run_in_threadpool(
            lambda: [photo_colours(up.data, settings.max_pixels) for up in uploads]
        )
    timing = {
        "read": (read - start) * 1000,
        "decode": (decoded - read) * 1000,
        "queue": max(r.queue_ms for r in results),
        "inference": max(r.inference_ms for r in results),
        "total": (time.perf_counter() - start) * 1000,
    }
    body = {
        "results": [
            public(up, res, model, query, cue, pal)
            for up, res, cue, pal in zip(uploads, results, cues, palettes)
        ],
        "model": {"name": model.name, "version": model.version},
        "timing_ms": {k: round(v, 3) for k, v in timing.items()},
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type=JSON)


async def decode_off_loop(
    uploads: list[Upload],
    read: Callable[[Image.Image], tuple[np.ndarray, dict[str, float]]],
    max_pixels: int,
    deadline: float,
    at_least: int | None = None,
) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """decode_all in a worker thread, answered by the deadline at the latest (DeadlineExceededError).

    The thread stops at its next image once the deadline has passed; the request does not wait for it.
    """
    work = asyncio.ensure_future(run_in_threadpool(decode_all, uploads, read, max_pixels, deadline, at_least))
    try:
        return await asyncio.wait_for(asyncio.shield(work), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        work.add_done_callback(lambda w: w.cancelled() or w.exception())  # its late error is not logged
        raise DeadlineExceededError("the images were not decoded within the request deadline") from None


def decode_all(
    uploads: list[Upload],
    read: Callable[[Image.Image], tuple[np.ndarray, dict[str, float]]],
    max_pixels: int,
    deadline: float | None = None,
    at_least: int | None = None,
) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """Decode every upload into the model's input and the photo reader's cues; the first bad one becomes a 4xx
    naming its position.

    With a deadline (time.monotonic()), DeadlineExceededError once it has passed, checked between images;
    `at_least` is the model's decode_side (JPEGs decoded reduced down to it).
    """
    arrays, cues = [], []
    for up in uploads:
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceededError("the images were not decoded within the request deadline")
        try:
            array, cue = read(decode_image(up.data, max_pixels=max_pixels, at_least=at_least))
        except ImageError as e:
            raise http_error(e, f"image {up.index}: " if len(uploads) > 1 else "") from e
        arrays.append(array)
        cues.append(cue)
    return arrays, cues


def public(
    upload: Upload,
    result: BatchResult,
    model: LoadedModel,
    query: ClassifyQuery,
    cues: dict[str, float],
    colours: list | None = None,
) -> dict:
    """One image's answer (a ClassificationPublic): top-k, review flag, status, embedding and colours when asked."""
    pred = model.predictor.prediction(result.probs, result.embedding, top_k=query.limit, cues=cues)
    item: dict = {"index": upload.index}
    if upload.filename is not None:
        item["filename"] = upload.filename
    scores = ((label, round(p, 6)) for label, p in pred.top)  # filtered as sent
    item["top"] = [{"label": label, "probability": p} for label, p in scores if p >= query.min_confidence]
    item["needs_review"] = pred.needs_review
    item["status"] = pred.status
    if pred.ood_score is not None:
        item["ood_score"] = pred.ood_score
    if pred.needs_review:
        item["review_reasons"] = list(pred.review_reasons)
    item.update(model.predictor.details(result.probs, result.embedding))  # zero-shot: its own fields
    if query.embed:
        item["embedding"] = result.embedding.tolist()
    if colours is not None:
        item["colours"] = [{"name": c.name, "hex": c.hex, "share": c.share} for c in colours]
    return item
