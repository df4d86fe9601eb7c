"""What one running service holds (kept on app.state.service): settings, model, batcher, keys, metrics, catalogue.

Every model call of the service goes one way: admitted under the in-flight limit (`Lifecycle.admit`), queued
with the micro-batcher, answered before the request deadline. Classify requests are admitted by the middleware
before their body is read; catalogue model calls (search by photo, ingestion, the duplicate check, creatives)
come from worker threads through `Service.run_model`, the runner the service gives its catalogue.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from shoplens.api.keys import KeyStore
from shoplens.api.metrics import Metrics
from shoplens.config import Settings
from shoplens.inference.batcher import BatchResult, BatchRunner, MicroBatcher, QueueFullError
from shoplens.inference.predictor import Predictor
from shoplens.inference.store import ModelHandle

if TYPE_CHECKING:  # the catalogue stack (SQLAlchemy, faiss, the domain rooms) loads on first use
    from shoplens.api.workers import SharedAdmission
    from shoplens.catalog.service import Catalog
    from shoplens.recommend.recommender import Recommender


@dataclass
class Lifecycle:
    """Whether the service is shutting down, requests in flight, and admitted model work (event-loop thread only)."""

    shutting_down: bool = False
    inflight: int = 0  # every request
    max_admitted: int = 64  # the in-flight limit of model work (settings.max_inflight)
    admitted: int = 0  # classify requests and catalogue model calls admitted and not yet answered
    preparing: int = (
        0  # admitted classify requests still reading and decoding (their images are on their way)
    )

    shared: SharedAdmission | None = (
        None  # with several workers: the slots of all of them (the limit is global)
    )
    worker: int | None = None  # this process's number among the workers (None: the only one)

    def admit(self) -> bool:
        """Take a slot for model work; False when all are taken (the caller answers 503)."""
        if self.shared is not None and self.worker is not None:
            if not self.shared.admit(self.worker):
                return False
        elif self.admitted >= self.max_admitted:
            return False
        self.admitted += 1
        return True

    def release(self) -> None:
        """Give an admitted slot back."""
        self.admitted -= 1
        if self.shared is not None and self.worker is not None:
            self.shared.release(self.worker)


class Ticket:
    """An admitted classify request (see AdmissionMiddleware); `queued()` once its images are with the batcher."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.preparing = True

    def queued(self) -> None:
        """The request's images are queued: the batcher should not wait for them any more."""
        if self.preparing:
            self.preparing = False
            self.lifecycle.preparing -= 1


@dataclass
class Service:
    """The parts of one app; routes get it through a single dependency."""

    settings: Settings
    handle: ModelHandle
    batcher: MicroBatcher
    keys: KeyStore
    metrics: Metrics
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    loop: asyncio.AbstractEventLoop | None = None  # the loop the batcher runs on (set while serving)
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _recommender: Recommender | None = field(default=None, repr=False)

    def deadline(self) -> float:
        """The time.monotonic() by which a request starting now must be answered."""
        return time.monotonic() + self.settings.request_deadline_ms / 1000

    async def infer(
        self, runner: BatchRunner, arrays: list[np.ndarray], deadline: float
    ) -> list[BatchResult]:
        """Queue images with the micro-batcher and wait for them (QueueFullError, DeadlineExceededError)."""
        return await self.batcher.wait(self.batcher.submit_all(runner, arrays, deadline), deadline)

    def run_model(self, predictor: Predictor, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A catalogue model call from a worker thread, admitted and batched like a classify request."""
        loop = self.loop
        if loop is None or len(batch) == 0:  # not serving (a script built the app): call the model directly
            return predictor.run(batch)
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:  # no loop runs in this thread: a worker thread, as it should be
            on_loop = False
        if on_loop:
            raise RuntimeError("run_model waits for the event loop: call it from a worker thread")
        return asyncio.run_coroutine_threadsafe(self._admitted(predictor, batch), loop).result()

    async def _admitted(self, predictor: Predictor, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a batch under the in-flight limit: its images queued, max_batch at a time, their answers stacked."""
        if not self.lifecycle.admit():
            raise QueueFullError("too many model calls in flight")
        deadline, size, results = self.deadline(), self.batcher.max_batch, []
        try:
            for start in range(0, len(batch), size):  # a batch at a time: a big one never floods the queue
                results += await self.infer(predictor, list(batch[start : start + size]), deadline)
        finally:
            self.lifecycle.release()
        return np.stack([r.probs for r in results]), np.stack([r.embedding for r in results])

    @property
    def catalog_open(self) -> bool:
        """Whether the catalogue was opened already (`catalog()` then returns at once)."""
        return self._catalog is not None

    def catalog(self) -> Catalog:
        """The catalogue, opened (and migrated) on first use; its model calls go through `run_model`."""
        with self._catalog_lock:
            if self._catalog is None:
                # One request, one search: faiss's OpenMP threads only contend with each other and with the
                # event loop (measured: a recommendation took 83 ms with the default threads on 2 loaded
                # cores, 13 ms with one). Set here, on first use, so that serving starts without faiss.
                import faiss

                from shoplens.catalog.service import Catalog, catalog_config

                faiss.omp_set_num_threads(self.settings.search_threads)
                self._catalog = Catalog(
                    catalog_config(self.settings),
                    self.handle.store,
                    serving=self.handle.current,
                    runner=self.run_model,
                )
            return self._catalog

    def recommender(self) -> Recommender:
        """The recommender (one statistics snapshot shared by all requests), created on first use."""
        from shoplens.behaviour.profiles import ProfileConfig
        from shoplens.recommend.recommender import Recommender, RecommenderConfig

        catalog = self.catalog()
        ttl = self.settings.shopper_cache_ttl_s
        with self._catalog_lock:
            if self._recommender is None:
                self._recommender = Recommender(
                    catalog, RecommenderConfig(cache_ttl_s=ttl), ProfileConfig(cache_ttl_s=ttl)
                )
            return self._recommender

    def close(self) -> None:
        """Release what the service opened."""
        if self._catalog is not None:
            self._catalog.close()
