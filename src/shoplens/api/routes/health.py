"""Probes and metrics: /livez, /readyz, /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from shoplens.api.deps import ServiceDep
from shoplens.api.errors import HTTPProblem
from shoplens.api.metrics import CONTENT_TYPE
from shoplens.api.schemas import ModelRefPublic, StatusPublic

router = APIRouter(tags=["health"])


@router.get("/livez", response_model=StatusPublic, operation_id="getLiveness", summary="The process is up")
async def livez() -> StatusPublic:
    """Always 200 while the process answers."""
    return StatusPublic(status="alive")


@router.get(
    "/readyz",
    response_model=StatusPublic,
    operation_id="getReadiness",
    summary="Ready for traffic",
    responses={
        503: {
            "description": "No active model or none loaded yet (`no_model`), shutting down (`shutting_down`), "
            "or the catalogue's database or image store cannot take writes now (`service_unavailable`)"
        }
    },
)
async def readyz(service: ServiceDep) -> StatusPublic:
    """200 with the serving version once a model is loaded; 503 before that, while shutting down, and while the
    catalogue's database (once opened) cannot take writes or its image store found no room."""
    if service.lifecycle.shutting_down:
        raise HTTPProblem(503, "shutting down", "shutting_down")
    model = service.handle.current()
    if model is None:
        raise HTTPProblem(503, service.handle.unavailable_reason(), "no_model")
    if service.catalog_open:
        catalog = service.catalog()
        problem = await run_in_threadpool(catalog.availability.problem) or catalog.store.problem()
        if problem is not None:
            raise HTTPProblem(503, problem, "service_unavailable")
    ref = ModelRefPublic(name=model.name, version=model.version)
    return StatusPublic(status="ready", model=ref, worker=service.lifecycle.worker)


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus text format."""
    model = service.handle.current()
    service.metrics.set_model(model.name if model else None, model.version if model else None)
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)
