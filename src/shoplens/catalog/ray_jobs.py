"""The batch jobs on Ray Data: `classify-batch`, `ingest` and `reindex` with `--engine ray`.

Ray Data spreads the rows over an actor pool: each actor holds one model (ONNX Runtime, one thread) and reads,
decodes and preprocesses its batches before running the model on them, the batch size the bundle's. The
driver (this process) writes what comes back — the Parquet file, or the catalogue database in the same
transactions and job records as the local engine — so a killed job resumes without duplicates. Images are
read from local disk or object storage (pyarrow filesystems); a cluster is joined by its address
(`--ray-address`, or RAY_ADDRESS), otherwise a local Ray starts for the job and stops after it.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shoplens.catalog.batch import (
    Batch,
    ModelStage,
    PredictionsFile,
    Source,
    batch_size_of,
    decode_stage,
    is_web_url,
    prepare_stage,
    source_batch,
)
from shoplens.catalog.colours import replace_attributes
from shoplens.catalog.ingest import IngestItem, Ingestor, ItemOutcome
from shoplens.catalog.recognise import category_probabilities, is_mismatch, recognitions
from shoplens.catalog.reindex import Scope, Seen, pending
from shoplens.catalog.service import Catalog
from shoplens.catalog.storage import LocalImageStore
from shoplens.db.catalog import Embedding
from shoplens.errors import ShopLensError
from shoplens.inference.store import LoadedModel

LOCAL_START_TRIES = 2  # a local Ray whose node misses its start-up deadline is started once more


@contextmanager
def ray_cluster(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for the block: joined at `address`, already running, or started locally and shut down after."""
    import ray

    if ray.is_initialized():
        yield
        return
    _start(ray, address, num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


def _start(ray: Any, address: str | None, num_cpus: int | None) -> None:
    """ray.init; a local start is tried twice, a join once; ShopLensError when Ray does not come up."""
    tries = 1 if address else LOCAL_START_TRIES
    for attempt in range(1, tries + 1):
        try:
            ray.init(
                address=address,
                num_cpus=None if address else num_cpus,
                include_dashboard=False,
                log_to_driver=False,
            )
            return
        # Ray raises a bare Exception when its node misses the start-up deadline (seen once in CI on a loaded
        # 2-core machine, the raylet having written no log), ConnectionError when nothing answers at address.
        except Exception as e:
            ray.shutdown()  # what a half-started local node left running
            if attempt == tries:
                where = f"at {address}" if address else f"locally ({tries} tries)"
                raise ShopLensError(f"Ray did not start {where}: {e}") from e


class _Worker:
    """An actor of the pool: one model, and the stage that turns a batch of sources into model inputs."""

    def __init__(self, bundle_path: str, stage: Callable[[Batch], Batch]) -> None:
        self.stage, self.model = stage, ModelStage(bundle_path, threads=1)

    def __call__(self, batch: Batch) -> Batch:
        return self.model(self.stage(batch))


def run_pipeline(
    rows: Batch,
    stage: Callable[[Batch], Batch],
    model: LoadedModel,
    workers: int,
    write_batch: int | None = None,
) -> Iterator[Batch]:
    """The rows through `stage` and the model on a pool of `workers` actors, handed back as they finish
    (`write_batch` rows at a time, default: as the model ran them)."""
    import ray.data

    if not len(rows["key"]):
        return
    batch = batch_size_of(model.predictor.bundle.config)
    items = [dict(zip(rows, values)) for values in zip(*rows.values())]
    blocks = min(len(items), max(2 * workers, -(-len(items) // batch)))  # each actor gets work, batches full
    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _Worker,
        fn_constructor_kwargs={"bundle_path": str(model.path), "stage": stage},
        batch_size=batch,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    yield from ds.iter_batches(batch_size=write_batch, batch_format="numpy")


def classify_batch_ray(
    model: LoadedModel, sources: Sequence[Source], out: Path, workers: int, max_pixels: int
) -> PredictionsFile:
    """Predictions and embeddings of every source into a Parquet file, computed on Ray."""
    stage = functools.partial(decode_stage, pre=model.preprocess, max_pixels=max_pixels)
    writer = PredictionsFile(out, model.predictor.bundle.labels, model.version)
    try:
        for batch in run_pipeline(source_batch(sources), stage, model, workers):
            writer.write(batch)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer


def ingest_outcomes_ray(
    catalog: Catalog, workers: int, blur_faces: bool, max_bytes: int, write_batch: int = 256
) -> Callable[[Ingestor, Sequence[Any]], Iterator[list[ItemOutcome]]]:
    """A BulkIngest engine: prepare and embed the rows on Ray, write them here `write_batch` rows (one
    transaction, one job record) at a time."""
    model = catalog.model()

    def outcomes(ingestor: Ingestor, rows: Sequence[Any]) -> Iterator[list[ItemOutcome]]:
        by_key = {r.key: r for r in rows}
        table = {
            "key": np.array([r.key for r in rows], object),
            "image": np.array([r.image for r in rows], object),
            "error": np.array([_refused(r) for r in rows], object),
        }
        stage = functools.partial(
            prepare_stage,
            pre=model.preprocess,
            max_pixels=catalog.config.max_pixels,
            quality=catalog.config.quality,
            blur=blur_faces,
            max_bytes=max_bytes,
        )
        for batch in run_pipeline(table, stage, model, workers, write_batch):
            yield _write_batch(ingestor, model, batch, by_key, blur_faces)

    return outcomes


def _refused(row: Any) -> str:
    """Why a row cannot go to the workers ('' when it can): web URLs are fetched only by the local engine,
    under its fetch policy."""
    if row.error or not row.product:
        return row.error or "no product"
    if is_web_url(row.image or ""):
        return "web URLs are fetched by the local engine (its fetch policy applies): use --engine local"
    return ""


def _write_batch(
    ingestor: Ingestor, model: LoadedModel, batch: Batch, rows: dict[str, Any], blur: bool
) -> list[ItemOutcome]:
    """Store one batch that came back from the workers; every row gets an outcome."""
    keys = [str(k) for k in batch["key"]]
    items = [IngestItem(k, rows[k].product, [b""], blur) for k in keys if rows[k].product is not None]
    outcomes: dict[str, ItemOutcome] = {}
    prepared, position = {}, {}
    for i, (key, error) in enumerate(zip(keys, batch["error"])):
        if error:
            outcomes[key] = ItemOutcome(key, "failed", error=str(rows[key].error or error))
            continue
        try:
            ingestor.check(IngestItem(key, rows[key].product, [b""], blur))
        except ShopLensError as e:
            outcomes[key] = ItemOutcome(key, "failed", error=str(e), exception=e)
            continue
        p = pickle.loads(batch["prepared"][i])
        prepared[key], position[id(p.image)] = [p], i

    def computed(
        images: list[Any], _read: object = None, /
    ) -> tuple[LoadedModel, np.ndarray, np.ndarray, list[str]]:  # read on Ray already
        rows_of = [position[id(im)] for im in images]
        return model, batch["probs"][rows_of], batch["vector"][rows_of], list(batch["status"][rows_of])

    ingestor.ingest_prepared(items, prepared, outcomes, computed)
    return [outcomes[k] for k in keys]


def embed_pending_ray(catalog: Catalog, workers: int) -> Callable[..., dict[int, Seen]]:
    """A reindex embedder: the images of a scope (default: those lacking an embedding of the model), run on Ray,
    stored here."""

    def embed(
        _catalog: Catalog,
        model: LoadedModel,
        progress: Callable[[int], None] | None = None,
        scope: Scope = "missing",
    ) -> dict[int, Seen]:
        rows = {r.image_id: r for r in pending(catalog, model.version, limit=None, scope=scope)}
        table = {
            "key": np.array(list(rows), np.int64),
            "image": np.array([r.sha256 for r in rows.values()], object),
        }
        store_root = str(catalog.store.root)  # type: ignore[attr-defined]
        reader = functools.partial(_read_stored, store_root)
        stage = functools.partial(
            decode_stage, pre=model.preprocess, max_pixels=catalog.config.max_pixels, reader=reader
        )
        labels = list(model.predictor.bundle.labels)
        done: dict[int, Seen] = {}
        for batch in run_pipeline(table, stage, model, workers):
            ok = [i for i, e in enumerate(batch["error"]) if not e]
            seen = recognitions(model, batch["probs"][ok], batch["vector"][ok])
            ids = [int(batch["key"][i]) for i in ok]
            with catalog.sessions.begin() as session:
                session.add_all(
                    Embedding(image_id=i, model_version=model.version, vector=r.vector)
                    for i, r in zip(ids, seen)
                    if not rows[i].embedded
                )
                replace_attributes(session, model, ids, batch["vector"][ok])
            for i, row, r in zip(ids, ok, seen):
                mismatch = is_mismatch(batch["probs"][row], labels, rows[i].declared, catalog.config.mismatch)
                probabilities = category_probabilities(batch["probs"][row], labels)
                done[i] = Seen(r.category, r.confidence, mismatch, str(batch["status"][row]), probabilities)
            if progress:
                progress(len(batch["key"]))
        return done

    return embed


def _read_stored(root: str, image_id: str, max_bytes: int) -> bytes:
    """A stored catalogue image's bytes (the workers open the store themselves)."""
    return LocalImageStore(Path(root), fsync=False).open(image_id)
