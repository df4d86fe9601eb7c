"""Re-embedding with a new model version: the index switches atomically and search keeps answering meanwhile
(faiss files and Milvus collections), at the new version's own vector width; each image's category and "not a
product" flag follow the version switched to, back and forth."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.queries import qa_summary
from shoplens.catalog.reindex import reindex
from shoplens.catalog.service import Catalog
from shoplens.data.dataset import ImageDataset
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.db.catalog import Embedding, ProductImage
from shoplens.inference.projection import MIN_FIT_SAMPLES
from shoplens.inference.store import ModelStore
from shoplens.training.pipeline import fit_search_projection
from tests.support.bundles import DIM, NAME, PHOTO_PRE, add_detector, make_bundle
from tests.support.images import checkerboard, encode, photos, png, product_photo
from tests.support.vectors import vector_backends

PHOTOS = photos(12, seed=31)


@pytest.mark.parametrize("vector_backend", vector_backends())
def test_reindex_switches_while_search_keeps_answering(catalog: Catalog, models_root: Path) -> None:
    out = catalog.ingestor().ingest(
        [IngestItem(f"k{i}", ProductIn("m", f"s{i}", f"T{i}"), [png(p)]) for i, p in enumerate(PHOTOS)]
    )
    target = out[0].image_ids[0]
    # A second process's view of the same catalogue (as `shoplens reindex` would be).
    other = Catalog(catalog.config, ModelStore(models_root, NAME))
    answers: list[tuple[str, int]] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def search_until_done() -> None:
        while not done.is_set() and len(answers) < 5000:
            try:
                model, _, emb, _ = catalog.embed([PHOTOS[0]])
                _, ids = catalog.space.index(model.version, emb.shape[1]).search(emb, 1)
                answers.append((model.version, int(ids[0][0])))
            except BaseException as e:
                failures.append(e)
                return

    thread = threading.Thread(target=search_until_done)
    thread.start()
    try:
        summary = reindex(other, "v2")
    finally:
        done.set()
        thread.join(timeout=60)
    other.close()
    assert failures == []
    assert (summary.version, summary.previous, summary.embedded, summary.indexed) == ("v2", "v1", 12, 12)
    assert answers and all(top == target for _, top in answers)
    versions = [v for v, _ in answers]
    assert versions == sorted(versions)  # v1 answers, then v2 answers: never back
    assert catalog.model().version == "v2" and catalog.space.active_version() == "v2"
    with catalog.sessions() as s:
        assert (
            s.scalar(select(func.count()).select_from(Embedding).where(Embedding.model_version == "v2")) == 12
        )
        assert set(s.scalars(select(ProductImage.model_version))) == {"v2"}
    # New images now go in with the new version.
    (late,) = catalog.ingestor().ingest(
        [IngestItem("late", ProductIn("m", "late", "L"), [png(photos(1, seed=99)[0])])]
    )
    with catalog.sessions() as s:
        assert s.get(Embedding, (late.image_ids[0], "v2")) is not None
    assert len(catalog.space.index("v2", DIM)) == 13
    _scores, ids = catalog.space.index("v2", DIM).search(np.zeros((1, DIM), np.float32), 13)
    assert set(ids[0]) >= {target, late.image_ids[0]}


def test_a_version_with_a_search_projection_gets_an_index_of_its_projected_width(
    catalog: Catalog, models_root: Path
) -> None:
    out = catalog.ingestor().ingest(
        [IngestItem(f"k{i}", ProductIn("m", f"s{i}", f"T{i}"), [png(p)]) for i, p in enumerate(PHOTOS)]
    )
    v2 = models_root / NAME / "v2"
    arrays = np.random.default_rng(5).integers(0, 256, (MIN_FIT_SAMPLES, 1, 28, 28), dtype=np.uint8)
    val = ImageDataset(arrays, np.zeros(len(arrays), np.int64), list(CLASS_NAMES))
    assert fit_search_projection(v2, val, width=8) == 8
    other = Catalog(catalog.config, ModelStore(models_root, NAME))
    summary = reindex(other, "v2")
    other.close()
    assert (summary.version, summary.indexed) == ("v2", 12)
    model, _, emb, _ = catalog.embed([PHOTOS[3]])
    assert model.version == "v2" and emb.shape == (1, 8 + len(CLASS_NAMES)) != (1, DIM)
    _, ids = catalog.space.index("v2", emb.shape[1]).search(emb, 1)
    assert int(ids[0][0]) == out[3].image_ids[0]  # each photo still finds itself first


def test_each_image_takes_the_not_a_product_flag_of_the_version_switched_to(
    catalog: Catalog, models_root: Path
) -> None:
    add_detector(make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE))  # flags the checkerboard
    out = catalog.ingestor().ingest(
        [
            IngestItem("good", ProductIn("m", "good", "Coat", category="Coat"), [encode(product_photo())]),
            IngestItem("odd", ProductIn("m", "odd", "Board", category="Coat"), [encode(checkerboard())]),
        ]
    )
    good, odd = (o.image_ids[0] for o in out)

    def stored() -> dict[int, tuple[list[str], str | None, str | None]]:
        with catalog.sessions() as s:
            rows = s.execute(
                select(
                    ProductImage.id,
                    ProductImage.quality_flags,
                    ProductImage.model_version,
                    ProductImage.predicted_category,
                )
            )
            return {i: (sorted(f for f in flags.split(",") if f), v, c) for i, flags, v, c in rows}

    before = stored()
    assert "not_a_product" not in before[odd][0]  # v1 has no detector
    assert reindex(catalog, "v3").embedded == 2
    after = stored()
    assert after[odd][0] == sorted([*before[odd][0], "not_a_product"]) and after[odd][1] == "v3"
    assert after[good][0] == before[good][0] and after[good][1] == "v3"
    with catalog.sessions() as s:  # the switch keeps v3's probabilities with its category
        for img in s.scalars(select(ProductImage)):
            assert max(img.probabilities, key=img.probabilities.__getitem__) == img.predicted_category
            assert img.probabilities[img.predicted_category] == pytest.approx(img.confidence)
    with catalog.sessions() as s:
        assert qa_summary(s)["flags"]["not_a_product"]["count"] == 1  # what the console's QA lists

    back = reindex(catalog, "v1")  # v1's embeddings are kept; the model runs again for the rest
    assert (back.version, back.embedded) == ("v1", 2)
    assert stored() == before
    with catalog.sessions() as s:
        assert s.scalar(select(func.count()).where(Embedding.model_version == "v1")) == 2
        assert qa_summary(s)["flags"]["not_a_product"]["count"] == 0


def test_refresh_runs_the_model_again_after_a_versions_detector_changed_in_place(
    catalog: Catalog, models_root: Path
) -> None:
    v3 = make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE)
    add_detector(v3)
    out = catalog.ingestor().ingest(
        [IngestItem("odd", ProductIn("m", "odd", "Board"), [encode(checkerboard())])]
    )
    image_id = out[0].image_ids[0]

    def flags() -> str:
        with catalog.sessions() as s:
            return s.scalar(select(ProductImage.quality_flags).where(ProductImage.id == image_id)) or ""

    reindex(catalog, "v3")
    assert "not_a_product" in flags()
    add_detector(
        v3, threshold=1.01
    )  # as `shoplens models refit-detector v3` would change it: flags nothing now
    assert reindex(catalog, "v3").embedded == 0 and "not_a_product" in flags()  # nothing new to embed
    assert reindex(catalog, "v3", refresh=True).embedded == 1 and "not_a_product" not in flags()
    with catalog.sessions() as s:
        assert (
            s.scalar(select(func.count()).where(Embedding.model_version == "v3")) == 1
        )  # kept, not added twice


def test_an_image_written_with_the_old_model_around_the_switch_is_embedded_too(
    catalog: Catalog, models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.ingestor().ingest([IngestItem("a", ProductIn("m", "a", "A"), [png(PHOTOS[0])])])
    old = catalog.model()  # v1
    other = Catalog(catalog.config, ModelStore(models_root, NAME))  # `shoplens reindex`'s own view
    switch, late = other.space.activate, []

    def switch_while_a_writer_holds_the_old_model(version: str) -> None:
        switch(version)  # a server's ingest chose v1 just before this and commits just after it
        monkeypatch.setattr(catalog, "model", lambda: old)
        late.extend(catalog.ingestor().ingest([IngestItem("b", ProductIn("m", "b", "B"), [png(PHOTOS[1])])]))
        monkeypatch.undo()

    monkeypatch.setattr(other.space, "activate", switch_while_a_writer_holds_the_old_model)
    summary = reindex(other, "v2")
    other.close()
    (written,) = late
    with catalog.sessions() as s:  # before: only its v1 embedding, so no v2 search ever found it
        assert s.get(Embedding, (written.image_ids[0], "v2")) is not None
    assert summary.embedded == 2 and written.image_ids[0] in catalog.space.index("v2", DIM).ids()
