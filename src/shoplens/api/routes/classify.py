"""POST /v1/classify: images in, categories (and embeddings) out, through the micro-batcher."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from shoplens.api.deps import ReaderDep, ServiceDep
from shoplens.api.errors import busy, http_error
from shoplens.api.schemas import ClassificationPublic, ClassifyPublic, LabelScorePublic, ModelRefPublic
from shoplens.api.service import Ticket
from shoplens.api.uploads import MULTIPART_BODY, Upload, read_uploads
from shoplens.errors import ImageError
from shoplens.imaging import PreprocessConfig, declared_size, decode_image, image_to_array
from shoplens.inference.batcher import BatchResult, MicroBatcher, QueueFullError
from shoplens.inference.store import LoadedModel

router = APIRouter(prefix="/v1", tags=["classify"])
INLINE_PIXELS = 128 * 128  # up to this many pixels in a request are decoded on the event loop (≈0.5 ms)
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


def small_enough_inline(uploads: list[Upload]) -> bool:
    """Whether all images together declare so few pixels that decoding them costs less than a thread hop."""
    total = 0
    for up in uploads:
        size = declared_size(up.data)
        if size is None:
            return False  # let the thread (and decode_image's checks) deal with it
        total += size[0] * size[1]
    return total <= INLINE_PIXELS


def decode_all(uploads: list[Upload], preprocess: PreprocessConfig, max_pixels: int) -> list[np.ndarray]:
    """Decode and preprocess every upload; the first bad one becomes a 4xx naming its position."""
    arrays = []
    for up in uploads:
        try:
            arrays.append(image_to_array(decode_image(up.data, max_pixels=max_pixels), preprocess))
        except ImageError as e:
            raise http_error(e, f"image {up.index}: " if len(uploads) > 1 else "") from e
    return arrays


async def infer(
    batcher: MicroBatcher, model: LoadedModel, arrays: list[np.ndarray], deadline: float, ticket: Ticket
) -> list[BatchResult]:
    """Queue every image and wait for all of them until the deadline (504 past it, 503 if the queue is full)."""
    futures: list[asyncio.Future[BatchResult]] = []
    try:
        for array in arrays:
            futures.append(batcher.submit(model.predictor, array, deadline))
    except QueueFullError:
        for f in futures:
            f.cancel()
        raise busy() from None
    finally:
        ticket.queued()
    try:
        return list(await asyncio.wait_for(asyncio.gather(*futures), max(deadline - time.monotonic(), 0)))
    except TimeoutError:
        raise HTTPException(504, "the model did not answer within the request deadline") from None


@router.post(
    "/classify",
    response_model=ClassifyPublic,
    response_model_exclude_none=True,
    openapi_extra=MULTIPART_BODY,
    responses=ERRORS,
    summary="Classify one image (`file`) or several (`files`)",
)
async def classify(
    request: Request,
    _caller: ReaderDep,
    service: ServiceDep,
    top_k: Annotated[int, Query(ge=1, le=100, description="Categories per image.")] = 3,
    embed: Annotated[bool, Query(description="Include the L2-normalised embedding.")] = False,
) -> ClassifyPublic:
    """Top-k categories with calibrated probabilities and a review flag for each uploaded image."""
    start = time.perf_counter()
    settings = service.settings
    deadline = time.monotonic() + settings.request_deadline_ms / 1000
    model = service.handle.current()  # this request keeps this model, whatever is activated meanwhile
    if model is None:
        raise HTTPException(503, "no model is loaded yet", headers={"Retry-After": "1"})
    uploads = await read_uploads(request, settings.max_files, settings.max_parts)
    read = time.perf_counter()
    if small_enough_inline(uploads):
        arrays = decode_all(uploads, model.preprocess, settings.max_pixels)
    else:  # a large photo takes milliseconds: off the event loop
        arrays = await run_in_threadpool(decode_all, uploads, model.preprocess, settings.max_pixels)
    decoded = time.perf_counter()
    results = await infer(service.batcher, model, arrays, deadline, request.state.ticket)
    timing = {
        "read": (read - start) * 1000,
        "decode": (decoded - read) * 1000,
        "queue": max(r.queue_ms for r in results),
        "inference": max(r.inference_ms for r in results),
        "total": (time.perf_counter() - start) * 1000,
    }
    return ClassifyPublic(
        results=[public(up, res, model, top_k, embed) for up, res in zip(uploads, results)],
        model=ModelRefPublic(name=model.name, version=model.version),
        timing_ms={k: round(v, 3) for k, v in timing.items()},
    )


def public(
    upload: Upload, result: BatchResult, model: LoadedModel, top_k: int, embed: bool
) -> ClassificationPublic:
    """One image's answer: top-k, review flag, and the embedding when asked for."""
    pred = model.predictor.prediction(result.probs, result.embedding if embed else None, top_k=top_k)
    return ClassificationPublic(
        index=upload.index,
        filename=upload.filename,
        needs_review=pred.needs_review,
        top=[LabelScorePublic(label=label, probability=round(p, 6)) for label, p in pred.top],
        embedding=[float(v) for v in pred.embedding] if pred.embedding is not None else None,
    )
