"""What happens to each incoming image: safe decode, face blur, quality, hash, colours, classify (and attributes),
store, record, deduplicate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from shoplens.catalog.colours import attribute_rows, colour_rows
from shoplens.catalog.declared import ProductIn, check_product
from shoplens.catalog.duplicates import DuplicateCache, DuplicateConfig, assign_duplicates
from shoplens.catalog.queries import NOT_A_PRODUCT, ensure_merchants, judge_declared
from shoplens.catalog.recognise import (
    MismatchConfig,
    ModelInputs,
    category_probabilities,
    disagrees,
    recognitions,
)
from shoplens.catalog.storage import ImageStore, content_id
from shoplens.catalog.vectors import VectorSpace
from shoplens.db.base import retried_on_conflict
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.errors import CatalogInputError, ShopLensError
from shoplens.imaging import PreprocessConfig, decode_whole_and_seen, read_image
from shoplens.imaging.colour import Colour, image_colours, photo_colours
from shoplens.imaging.hashing import canonical_view, perceptual_hash
from shoplens.imaging.privacy import blur_faces
from shoplens.imaging.quality import QualityConfig, QualityReport, assess_quality
from shoplens.inference.ood import NOT_RECOGNISED
from shoplens.inference.store import LoadedModel


class Embed(Protocol):
    """The catalogue's one way to run the model: photos (maybe already read for it) in; the model, probabilities,
    search vectors and statuses out."""

    def __call__(
        self, images: list[Image.Image], read: ModelInputs | None = None, /
    ) -> tuple[LoadedModel, np.ndarray, np.ndarray, list[str]]: ...


BLURRED_MARK = b"\0shoplens:faces-blurred"
_WRITERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shoplens-store")


@dataclass(frozen=True)
class IngestItem:
    """One product with its image bytes; `key` names it in a job's per-row results."""

    key: str
    product: ProductIn
    images: Sequence[bytes]
    blur_faces: bool = False


@dataclass
class ItemOutcome:
    """What became of an item: done (new or changed), skipped (already there) or failed, and why."""

    key: str
    status: str
    product_id: int | None = None
    error: str | None = None
    image_ids: list[int] = field(default_factory=list)
    exception: ShopLensError | None = field(
        default=None, repr=False
    )  # the error itself, for HTTP status mapping


@dataclass
class Prepared:
    """An image made safe and measured, waiting for the model."""

    sha256: str
    image: Image.Image
    # The photo as the model reads it: as /v1/classify decodes the same bytes (a large JPEG at a reduced
    # scale), or the stored image itself when its faces were blurred.
    seen: Image.Image
    quality: QualityReport
    view: np.ndarray
    phash: int
    faces: int
    nbytes: int
    colours: list[Colour]
    # The image read for the model (input array, reader's cues) with `Preparation.reading`, when asked.
    model_input: tuple[np.ndarray, dict[str, float]] | None = None


@dataclass(frozen=True)
class Preparation:
    """How items are checked and their images prepared (picklable: worker processes prepare by it too)."""

    categories: tuple[str, ...]
    max_pixels: int
    quality: QualityConfig
    reading: PreprocessConfig | None = None  # also read each image for the model this way (Predictor.reading)
    at_least: int | None = None  # the model's decode_side: what it is shown of each photo (Prepared.seen)


def prepare(
    data: bytes, blur: bool, max_pixels: int, quality: QualityConfig, at_least: int | None = None
) -> Prepared:
    """Decode untrusted bytes (metadata dropped), blur faces if asked, measure quality, hash and colours;
    `at_least`: the model's decode_side (see Prepared.seen)."""
    image, seen = decode_whole_and_seen(data, max_pixels=max_pixels, at_least=at_least)
    faces = 0
    if blur:
        blurred, faces = blur_faces(image)
        if faces:  # a hidden face stays hidden from the model too
            image = seen = blurred
    view = canonical_view(image)
    phash = perceptual_hash(Image.fromarray(view))
    # A blurred copy differs from the upload, so it gets its own content id: a merchant's unblurred copy of
    # the same bytes can never stand in for it.
    sha256 = content_id(data + BLURRED_MARK) if faces else content_id(data)
    quality_report = assess_quality(image, quality)
    # the colours /v1/classify names for these bytes (of the stored image when faces were hidden in it)
    colours = image_colours(image) if faces else photo_colours(data, max_pixels, decoded=image)
    return Prepared(sha256, image, seen, quality_report, view, phash, faces, len(data), colours)


def prepare_items(
    items: Sequence[IngestItem], how: Preparation
) -> tuple[dict[str, list[Prepared]], dict[str, ItemOutcome]]:
    """Check each item and prepare its images: (prepared images by key, outcomes of the items that failed)."""
    prepared: dict[str, list[Prepared]] = {}
    failed: dict[str, ItemOutcome] = {}
    for item in items:
        try:
            check_item(item, how.categories)
            images = [
                prepare(d, item.blur_faces, how.max_pixels, how.quality, how.at_least) for d in item.images
            ]
        except ShopLensError as e:
            failed[item.key] = ItemOutcome(item.key, "failed", error=str(e), exception=e)
            continue
        if how.reading is not None:
            images = [replace(p, model_input=read_image(p.seen, how.reading)) for p in images]
        prepared[item.key] = images
    return prepared, failed


def check_item(item: IngestItem, categories: Sequence[str]) -> None:
    """Raise CatalogInputError for an item that cannot be stored as declared."""
    check_product(item.product, categories)
    if not item.images:
        raise CatalogInputError("a product needs at least one image")


def model_inputs(images: Sequence[Prepared], reading: PreprocessConfig | None) -> ModelInputs | None:
    """The images' model inputs as one batch when every one was read with `reading`, else None."""
    if reading is None or not images or any(p.model_input is None for p in images):
        return None
    return ModelInputs(
        reading,
        np.stack([p.model_input[0] for p in images if p.model_input is not None]),
        [p.model_input[1] for p in images if p.model_input is not None],
    )


class Ingestor:
    """Turns IngestItems into products, stored images, embeddings, flags and vector-index entries.

    The model is reached only through `embed` (the catalogue's `Catalog.embed`), so every model call of the
    catalogue goes one way; `duplicate_caches` hands out the duplicate-check data of a model version.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ImageStore,
        space: VectorSpace,
        embed: Embed,
        categories: Sequence[str],
        *,
        max_pixels: int = 40_000_000,
        quality: QualityConfig | None = None,
        mismatch: MismatchConfig | None = None,
        duplicates: DuplicateConfig | None = None,
        duplicate_caches: Callable[[str], DuplicateCache] | None = None,
        decode_side: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.sessions, self.store, self.space, self.embed = sessions, store, space, embed
        self.decode_side = decode_side  # the current model's (Predictor.decode_side)
        self.categories = list(categories)
        self.max_pixels = max_pixels
        self.quality = quality or QualityConfig()
        self.mismatch = mismatch or MismatchConfig()
        self.duplicates = duplicates or DuplicateConfig()
        self.duplicate_caches = duplicate_caches or _own_caches()

    def preparation(self, reading: PreprocessConfig | None = None) -> Preparation:
        """How this ingestor checks items and prepares images (`reading`: also read them for the model)."""
        return Preparation(tuple(self.categories), self.max_pixels, self.quality, reading, self.decode_side())

    def ingest(self, items: Sequence[IngestItem]) -> list[ItemOutcome]:
        """Ingest a batch; every item gets an outcome, bad ones fail alone with a reason."""
        prepared, outcomes = prepare_items(items, self.preparation())
        return self.ingest_prepared(items, prepared, outcomes, self.embed)

    def check(self, item: IngestItem) -> None:
        """Raise CatalogInputError for an item that cannot be stored as declared."""
        check_item(item, self.categories)

    def ingest_prepared(
        self,
        items: Sequence[IngestItem],
        prepared: dict[str, list[Prepared]],
        outcomes: dict[str, ItemOutcome],
        embed: Embed,
        reading: PreprocessConfig | None = None,
    ) -> list[ItemOutcome]:
        """Store the items whose images are prepared (the others have their outcome already): skip unchanged
        products, run `embed` on the rest, write files, rows, duplicates and index entries.

        reading: how the images were read for the model while prepared (`Preparation.reading`), if they were.
        """
        todo = [it for it in items if it.key in prepared]
        with self.sessions() as session:
            current = load_products(session, [it.product for it in todo])
            unchanged = {
                it.key: current[_key(it.product)].id
                for it in todo
                if is_unchanged(current.get(_key(it.product)), it.product, prepared[it.key])
            }
        fresh = [it for it in todo if it.key not in unchanged]
        for key, product_id in unchanged.items():
            outcomes[key] = ItemOutcome(key, "skipped", product_id=product_id)
        if fresh:
            images = [p for it in fresh for p in prepared[it.key]]
            read = model_inputs(images, reading)
            model, probs, vectors, statuses = embed([p.seen for p in images], read)
            # The files are on disk before their rows are committed (writes overlap in threads: mostly I/O).
            # Every write ends before a failure is raised, so that no temp file is still being written after
            # the caller has been told (507) that nothing was stored.
            writes = [_WRITERS.submit(self.store.put, p.sha256, p.image) for p in images]
            wait(writes)
            for write in writes:
                write.result()
            self.store.sync()
            outcomes.update(self._record(fresh, prepared, model, probs, vectors, statuses))
        return [outcomes[it.key] for it in items]

    def _record(
        self,
        items: Sequence[IngestItem],
        prepared: dict[str, list[Prepared]],
        model: LoadedModel,
        probs: np.ndarray,
        vectors: np.ndarray,
        statuses: Sequence[str],
    ) -> dict[str, ItemOutcome]:
        """Write products, images and embeddings in one transaction, then deduplicate and index the new images."""
        labels = list(model.predictor.bundle.labels)
        version = model.version
        seen = recognitions(model, probs, vectors)
        attributes = attribute_rows(model, vectors)  # none unless the model has attribute prompts

        def write(session: Session) -> tuple[dict[str, ItemOutcome], list[tuple[ProductImage, np.ndarray]]]:
            """One try at the transaction: the items' outcomes and the images it added with their vectors."""
            outcomes: dict[str, ItemOutcome] = {}
            added: dict[str, list[tuple[ProductImage, np.ndarray]]] = {}
            row = 0
            products = load_products(session, [it.product for it in items])
            ensure_merchants(session, (it.product.merchant for it in items))
            for it in items:
                product = products.get(_key(it.product))
                if product is None:
                    product = products[_key(it.product)] = Product(
                        merchant_id=it.product.merchant, sku=it.product.sku
                    )
                    session.add(product)
                before = product.declared_category
                declare(product, it.product)
                if product.declared_category != before:  # its images so far: judged by the new category
                    judge_declared(product, self.mismatch)
                have = {img.sha256 for img in product.images}
                mine = added.setdefault(it.key, [])
                for p in prepared[it.key]:
                    rec, status, attrs = seen[row], statuses[row], attributes[row]
                    probabilities = category_probabilities(probs[row], labels)
                    row += 1
                    if p.sha256 in have:
                        continue
                    have.add(p.sha256)
                    img = ProductImage(
                        sha256=p.sha256,
                        phash=p.phash,
                        view=p.view.tobytes(),
                        width=p.image.width,
                        height=p.image.height,
                        bytes=p.nbytes,
                        quality_flags=",".join(image_flags(p.quality.flags, status)),
                        sharpness=p.quality.sharpness,
                        brightness=p.quality.brightness,
                        faces_blurred=p.faces,
                        predicted_category=rec.category,
                        confidence=rec.confidence,
                        model_version=version,
                        position=len(product.images),
                        source="shopper" if it.blur_faces else "merchant",
                        mismatch=disagrees(probabilities, it.product.category, self.mismatch),
                        probabilities=probabilities,
                        colours=colour_rows(p.colours),
                        attributes=attrs,
                    )
                    product.images.append(img)
                    mine.append((img, rec.vector))
            session.flush()  # one round of INSERTs for the whole batch
            new_rows = [pair for it in items for pair in added[it.key]]
            session.add_all(
                Embedding(image_id=img.id, model_version=version, vector=emb) for img, emb in new_rows
            )
            for it in items:
                product = products[_key(it.product)]
                outcomes[it.key] = ItemOutcome(
                    it.key, "done", product.id, image_ids=[img.id for img, _ in added[it.key]]
                )
            return outcomes, new_rows

        outcomes, new_rows = retried_on_conflict(self.sessions, write)
        if new_rows:
            ids = np.array([img.id for img, _ in new_rows], dtype=np.int64)
            stacked = np.stack([emb for _, emb in new_rows]).astype(np.float32)
            with self.sessions.begin() as session:
                assign_duplicates(session, self.duplicate_caches(version), ids, self.duplicates)
            self.space.add(version, ids, stacked)
        return outcomes


def image_flags(quality: Sequence[str], status: str) -> list[str]:
    """An image's stored flags: its quality flags, and not_a_product when the model says it is none."""
    return [*quality, NOT_A_PRODUCT] if status == NOT_RECOGNISED else list(quality)


def _own_caches() -> Callable[[str], DuplicateCache]:
    """Duplicate-check data per model version, kept by one ingestor (a catalogue shares its own instead)."""
    caches: dict[str, DuplicateCache] = {}
    return lambda version: caches.setdefault(version, DuplicateCache(version))


def _key(p: ProductIn) -> tuple[str, str]:
    """A product's identity: (merchant, sku)."""
    return (p.merchant, p.sku)


def load_products(session: Session, declared: Sequence[ProductIn]) -> dict[tuple[str, str], Product]:
    """The existing products among these (merchant, sku) pairs, with their images, in one query."""
    keys = {_key(p) for p in declared}
    if not keys:
        return {}
    rows = session.scalars(
        select(Product)
        .options(selectinload(Product.images))
        .where(Product.merchant_id.in_({m for m, _ in keys}), Product.sku.in_({s for _, s in keys}))
    )
    return {(p.merchant_id, p.sku): p for p in rows if (p.merchant_id, p.sku) in keys}


def declare(product: Product, p: ProductIn) -> None:
    """Set what the merchant declares on a product row."""
    product.title, product.brand, product.price = p.title, p.brand, p.price
    product.declared_category, product.stock, product.status = p.category, p.stock, p.status


def is_unchanged(product: Product | None, p: ProductIn, images: Sequence[Prepared]) -> bool:
    """Whether the catalogue already holds exactly this: same declared fields, every image there."""
    if product is None:
        return False
    price = None if product.price is None else Decimal(product.price)
    same = (
        product.title,
        product.brand,
        price,
        product.declared_category,
        product.stock,
        product.status,
    ) == (p.title, p.brand, None if p.price is None else Decimal(p.price), p.category, p.stock, p.status)
    return same and {i.sha256 for i in images} <= {img.sha256 for img in product.images}
