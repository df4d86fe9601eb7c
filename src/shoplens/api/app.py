"""The app factory: settings in, a FastAPI app whose Service (model handle, batcher, keys, metrics) is on app.state."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from shoplens import __version__
from shoplens.api import openapi
from shoplens.api.errors import add_exception_handlers
from shoplens.api.keys import KeyStore
from shoplens.api.limits import CallerLimitMiddleware
from shoplens.api.metrics import Metrics
from shoplens.api.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    FastLaneMiddleware,
    RequestContextMiddleware,
)
from shoplens.api.routes import classify, health, models, problems, web
from shoplens.api.service import Lifecycle, Service
from shoplens.api.workers import Worker
from shoplens.backbones.serving import model_loader, use_backbone
from shoplens.config import Settings
from shoplens.inference.batcher import MicroBatcher
from shoplens.inference.store import ModelHandle, ModelStore, PredictorLoader

log = logging.getLogger(__name__)
RETRY_WITHOUT_MODEL_S = 1.0
# FastAPI's own OpenTelemetry hooks check for a configured provider on every request (≈15 µs each); ShopLens keeps
# its own metrics and access logs, so they are off where this FastAPI has them.
NO_TELEMETRY = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)
ADMITTED = frozenset({"/v1/classify"})  # admitted before routing; catalogue model calls in Service.run_model
# Routers whose modules bring the catalogue stack (SQLAlchemy and the domain rooms): included on first need.
DEFERRED = ("products", "search", "catalog", "behaviour", "ads", "console")
CORE_PATHS = frozenset({"/livez", "/readyz", "/metrics", *ADMITTED})  # never wait for the deferred routers

DESCRIPTION = """Product photo categories and embeddings, a catalogue searchable by image, shopper recommendations
and ads. Images go as multipart/form-data, or as JSON (`{"image": {"base64": …}}` or `{"image": {"url": …}}`).
Every error is `application/problem+json` (RFC 9457) with a stable `code`; `GET /problems/{code}` describes it."""


class DeferredRoutersMiddleware:
    """Includes the DEFERRED routers before the first request that may need them (any but CORE_PATHS).

    Their modules take about as long to import as everything else the server needs put together, so the
    server is ready to classify (and answers its probes) as soon as its model is loaded; the catalogue API
    follows on its first use, as the catalogue database itself does. The import runs in a worker thread.
    """

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, modules: tuple[str, ...]) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.modules = modules
        self.loaded = False
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.loaded and scope["type"] == "http" and scope["path"] not in CORE_PATHS:
            await self.load()
        await self.app(scope, receive, send)

    async def load(self) -> None:
        """Import the modules (in a thread) and include their routers (on the loop), once."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.loaded:
                return
            names = [f"shoplens.api.routes.{name}" for name in self.modules]
            loaded = await asyncio.to_thread(lambda: [importlib.import_module(name) for name in names])
            for module in loaded:
                self.fastapi_app.include_router(module.router)
            self.fastapi_app.openapi_schema = None  # the document now lists them too
            self.loaded = True


async def keep_models_in_sync(handle: ModelHandle, interval_s: float) -> None:
    """Load the version to serve now, then follow activations made elsewhere (the CLI) every interval_s."""
    while True:
        try:
            await asyncio.to_thread(handle.sync)
        except Exception:  # a bad models folder must not stop the watcher
            log.exception("checking for a new model version failed")
        if interval_s <= 0 and handle.current() is not None:
            return
        await asyncio.sleep(interval_s or RETRY_WITHOUT_MODEL_S)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the batcher and the model watcher; on shutdown refuse new work, finish queued work, stop."""
    service: Service = app.state.service
    await service.batcher.start()
    service.loop = asyncio.get_running_loop()
    watcher = asyncio.create_task(keep_models_in_sync(service.handle, service.settings.reload_interval_s))
    try:
        yield
    finally:
        service.lifecycle.shutting_down = True
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await service.batcher.stop()
        service.loop = None
        service.close()


def create_app(
    settings: Settings | None = None, *, loader: PredictorLoader | None = None, worker: Worker | None = None
) -> FastAPI:
    """A ready-to-serve app; `loader` (bundle folder → Predictor) replaces the runtime's, for tests; `worker`: one
    of several server processes (its admission slots shared with the others)."""
    settings = settings or Settings()
    store = ModelStore(
        settings.models_dir,
        settings.model_name,
        loader or model_loader(settings.runtime, settings.threads, settings.device),
    )
    loaded = None  # a zero-shot version is loaded once, here, when it is activated
    if settings.backbone is not None and settings.taxonomy_file is not None:
        loaded = use_backbone(store, settings.backbone, settings.taxonomy_file)[1]
    metrics = Metrics()
    lifecycle = Lifecycle(max_admitted=settings.max_inflight)
    if worker is not None:
        lifecycle.shared, lifecycle.worker = worker.admission, worker.index
    batcher = MicroBatcher(
        max_batch=settings.effective_batch_size,
        max_wait_ms=settings.batch_max_wait_ms if settings.batching else 0,
        queue_max=settings.queue_max,
        on_batch=metrics.observe_batch,
        expected=lambda: lifecycle.preparing,
        inline_ms=settings.inline_inference_ms,
    )
    metrics.track_queue(lambda: batcher.depth)
    app = FastAPI(
        title="ShopLens",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description=DESCRIPTION,
        **NO_TELEMETRY,
    )
    keys = KeyStore(settings.api_keys_file)
    service = Service(settings, ModelHandle(store, loaded), batcher, keys, metrics, lifecycle)
    app.state.service = service
    add_exception_handlers(app)
    openapi.install(app)
    # Outermost last: request id/logs/metrics → per-caller limit → body limits → admission → fast lane
    # (classify) or the deferred routers' loading → FastAPI.
    lanes = [r for r in classify.router.routes if isinstance(r, classify.ClassifyRoute)]
    app.add_middleware(DeferredRoutersMiddleware, fastapi_app=app, modules=DEFERRED)
    app.add_middleware(FastLaneMiddleware, routes=lanes)
    app.add_middleware(AdmissionMiddleware, lifecycle=lifecycle, paths=ADMITTED)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(CallerLimitMiddleware, keys=keys, limit=settings.max_inflight_per_caller)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, lifecycle=lifecycle, known_paths=ADMITTED)
    for router in (r.router for r in (health, classify, models, problems, web)):
        app.include_router(router)  # each router carries its full prefix, so metrics see full route templates
    return app
