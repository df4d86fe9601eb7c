"""What one running service holds (kept on app.state.service): settings, model, batcher, keys, metrics, catalogue."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shoplens.api.keys import KeyStore
from shoplens.api.metrics import Metrics
from shoplens.catalog.service import Catalog, catalog_config
from shoplens.config import Settings
from shoplens.inference.batcher import MicroBatcher
from shoplens.inference.store import ModelHandle
from shoplens.recommend.recommender import Recommender


@dataclass
class Lifecycle:
    """Whether the service is shutting down, and how many requests are in flight (event-loop thread only)."""

    shutting_down: bool = False
    inflight: int = 0  # every request
    classifying: int = 0  # classify requests admitted and not yet answered
    preparing: int = 0  # of those, the ones still reading and decoding (their images are on their way)


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
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _recommender: Recommender | None = field(default=None, repr=False)

    @property
    def catalog_open(self) -> bool:
        """Whether the catalogue was opened already (`catalog()` then returns at once)."""
        return self._catalog is not None

    def catalog(self) -> Catalog:
        """The catalogue, opened (and migrated) on first use."""
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = Catalog(
                    catalog_config(self.settings), self.handle.store, serving=self.handle.current
                )
            return self._catalog

    def recommender(self) -> Recommender:
        """The recommender (one statistics snapshot shared by all requests), created on first use."""
        catalog = self.catalog()
        with self._catalog_lock:
            if self._recommender is None:
                self._recommender = Recommender(catalog)
            return self._recommender

    def close(self) -> None:
        """Release what the service opened."""
        if self._catalog is not None:
            self._catalog.close()
