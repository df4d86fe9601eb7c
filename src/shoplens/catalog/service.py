"""The catalogue as one object: database, image store, vector indexes and the model that embeds for search."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplens.catalog.duplicates import DuplicateCache, DuplicateConfig
from shoplens.catalog.ingest import Ingestor
from shoplens.catalog.queries import check_category, ensure_taxonomy
from shoplens.catalog.recognise import MismatchConfig, ModelInputs, Recognition, recognitions, search_vectors
from shoplens.catalog.storage import LocalImageStore
from shoplens.catalog.vectors import VectorSpace, index_store
from shoplens.config import Settings
from shoplens.db.availability import Availability
from shoplens.db.catalog import Taxonomy
from shoplens.db.engine import default_url, open_database
from shoplens.errors import ShopLensError
from shoplens.imaging import decode_whole_and_seen
from shoplens.imaging.quality import QualityConfig
from shoplens.inference.predictor import ModelRunner, run_directly
from shoplens.inference.store import LoadedModel, ModelStore


class NoModelError(ShopLensError):
    """The catalogue needs a model (to classify and embed) and none is available."""

    exit_code = 2
    http_status = 503
    code = "no_model"


@dataclass(frozen=True)
class CatalogConfig:
    """Where the catalogue lives and how it judges images."""

    data_dir: Path = Path("var/catalog")
    database_url: str | None = None  # default: SQLite under data_dir
    taxonomy: str = "fashion-mnist"
    index_method: str = "exact"
    vector_backend: str = "faiss"  # or "milvus"
    milvus_uri: str | None = None  # default: milvus-lite under data_dir/index
    milvus_token: str | None = None
    max_pixels: int = 40_000_000
    store_max_side: int = 0  # the stored copy's longest side (0: full size)
    blur_faces_merchant: bool = False  # product shots: off by default
    blur_faces_shopper: bool = True  # review photos and other shopper uploads: on
    mismatch: MismatchConfig = field(default_factory=MismatchConfig)
    duplicates: DuplicateConfig = field(default_factory=DuplicateConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)


def catalog_config(settings: Settings) -> CatalogConfig:
    """The catalogue part of the service settings."""
    return CatalogConfig(
        data_dir=settings.catalog_dir,
        database_url=settings.database_url,
        taxonomy=settings.taxonomy,
        index_method=settings.index_method,
        vector_backend=settings.vector_backend,
        milvus_uri=settings.milvus_uri,
        milvus_token=settings.milvus_token.get_secret_value() if settings.milvus_token else None,
        max_pixels=settings.max_pixels,
        store_max_side=settings.store_max_side,
        blur_faces_merchant=settings.blur_faces_merchant,
        blur_faces_shopper=settings.blur_faces_shopper,
        mismatch=MismatchConfig(settings.mismatch_min_confidence, settings.mismatch_max_declared),
        duplicates=DuplicateConfig(settings.duplicate_max_hamming, settings.duplicate_min_similarity),
    )


class Catalog:
    """Opens (and migrates) the database, the image store and the vector indexes; hands out ingestors."""

    def __init__(
        self,
        config: CatalogConfig,
        models: ModelStore,
        serving: Callable[[], LoadedModel | None] | None = None,
        runner: ModelRunner = run_directly,
    ) -> None:
        self.config = config
        self.models = models
        self.serving = serving  # the service's loaded model, reused when it is the version needed
        self.runner = runner  # how model calls run: directly, or through a server's admission and batcher
        url = config.database_url or default_url(config.data_dir)
        self.engine: Engine
        self.engine, self.sessions = open_database(url)
        self.availability = Availability(self.engine)  # asked by readiness probes
        # Files are flushed to disk once per ingested batch (store.sync), before their rows are committed.
        self.store = LocalImageStore(config.data_dir / "images", fsync=False, max_side=config.store_max_side)
        root = config.data_dir / "index"
        store = index_store(root, config.vector_backend, config.milvus_uri, config.milvus_token)
        self.space = VectorSpace(root, self.sessions, config.index_method, store)
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._dup_caches: dict[str, DuplicateCache] = {}

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def model(self) -> LoadedModel:
        """The model whose embeddings the active index holds (the model store's active one before any index)."""
        version = self.space.active_version() or self.models.active_version()
        if version is None:
            raise NoModelError(
                f"no active version of model {self.models.name!r} in {self.models.root}: train one, then "
                "activate it (shoplens models activate VERSION)"
            )
        shared = self.serving() if self.serving else None
        if shared is not None and shared.version == version:
            self._ensure_active(version)
            return shared
        with self._lock:
            if self._model is None or self._model.version != version:
                self._model = self.models.load(version)
            self._ensure_active(version)
            return self._model

    def _ensure_active(self, version: str) -> None:
        """Name the first model version used as the active index version."""
        if self.space.active_version() is None:
            self.space.activate(version)

    def categories(self) -> list[str]:
        """The category names of the catalogue's taxonomy (created from the model's labels the first time)."""
        try:
            return self._categories()
        except IntegrityError:  # a concurrent first request created it a moment ago: read that one
            return self._categories()

    def _categories(self) -> list[str]:
        with self.sessions.begin() as session:
            tax = session.scalar(select(Taxonomy).where(Taxonomy.name == self.config.taxonomy))
            if tax is None:
                tax = ensure_taxonomy(session, self.config.taxonomy, self.model().predictor.bundle.labels)
            return [c.name for c in tax.categories]

    def ingestor(self) -> Ingestor:
        """An ingestor that embeds through `embed` and judges images with this catalogue's settings."""
        cfg = self.config
        return Ingestor(
            self.sessions,
            self.store,
            self.space,
            self.embed,
            self.categories(),
            max_pixels=cfg.max_pixels,
            quality=cfg.quality,
            mismatch=cfg.mismatch,
            duplicates=cfg.duplicates,
            duplicate_caches=self.duplicate_cache,
            decode_side=lambda: self.model().predictor.decode_side,
        )

    def duplicate_cache(self, version: str) -> DuplicateCache:
        """The in-memory duplicate-check data of a model version, shared by this process's ingestors."""
        with self._lock:
            return self._dup_caches.setdefault(version, DuplicateCache(version))

    def check_category(self, category: str | None) -> None:
        """CatalogInputError naming the taxonomy when a category filter names none of its categories."""
        if category is not None:
            check_category(category, self.categories())

    def forget_duplicates(self, image_ids: np.ndarray) -> None:
        """Drop deleted images from this process's duplicate-check data (another process's notice at refresh)."""
        with self._lock:
            caches = list(self._dup_caches.values())
        for cache in caches:
            with cache.lock:
                cache.forget(image_ids)

    def embed(
        self, images: list[Image.Image], read: ModelInputs | None = None
    ) -> tuple[LoadedModel, np.ndarray, np.ndarray, list[str]]:
        """The search model, and its probabilities, search vectors and statuses for decoded photos (`read`: the
        same photos already read for the model, as bulk ingestion's worker processes do).

        Every model call of the catalogue and of ads goes through here (ingestion, search by photo, the
        duplicate check, creative recognition).
        """
        model = self.model()
        probs, vectors, statuses = search_vectors(model, images, self.runner, read)
        return model, probs, vectors, statuses

    def decode(self, photo: bytes) -> tuple[Image.Image, Image.Image]:
        """Untrusted photo bytes whole and as the search model is shown them, decoded as ingestion and
        /v1/classify decode them (ImageError when they cannot be)."""
        at_least = self.model().predictor.decode_side
        return decode_whole_and_seen(photo, max_pixels=self.config.max_pixels, at_least=at_least)

    def recognise(self, images: list[Image.Image]) -> list[Recognition]:
        """Category, confidence and search vector of each decoded photo, from `embed`."""
        if not images:
            return []
        return recognitions(*self.embed(images)[:3])

    def session(self) -> Session:
        """A new database session."""
        return self.sessions()
