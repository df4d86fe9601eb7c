"""Each image's path into the catalogue: safe decode, metadata stripped, quality, category, duplicates, index."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image
from sqlalchemy import func, select

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.demo import near_duplicate
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.service import Catalog
from shoplens.catalog.storage import StoreFullError, content_id
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.imaging import decode_image, read_image
from shoplens.imaging.colour import image_colours, photo_colours
from shoplens.imaging.privacy import detect_faces
from tests.support.bundles import DIM, NAME, PHOTO_PRE, make_bundle
from tests.support.images import encode, jpeg_with_gps, photos, png, product_photo

ASTRONAUT = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")


def item(
    key: str, image: bytes, merchant: str = "acme", category: str | None = None, blur: bool = False
) -> IngestItem:
    """A product with one image."""
    return IngestItem(key, ProductIn(merchant, key, f"Product {key}", category=category), [image], blur)


def test_products_images_and_embeddings_are_recorded(catalog: Catalog) -> None:
    out = catalog.ingestor().ingest([item(f"p{i}", png(p)) for i, p in enumerate(photos(4))])
    assert [o.status for o in out] == ["done"] * 4
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 4
        images = s.scalars(select(ProductImage)).all()
        assert all(
            img.predicted_category and img.confidence is not None and img.model_version == "v1"
            for img in images
        )
        assert s.scalar(select(func.count()).select_from(Embedding)) == 4
    assert len(catalog.space.index("v1", DIM)) == 4


def test_stored_copy_is_reencoded_without_metadata_and_content_addressed(catalog: Catalog) -> None:
    data = jpeg_with_gps(photos(1)[0])
    assert b"PrivateCam" in data
    (out,) = catalog.ingestor().ingest([item("gps", data)])
    sha = content_id(data)
    with catalog.sessions() as s:
        assert s.scalar(select(ProductImage.sha256).where(ProductImage.product_id == out.product_id)) == sha
    stored = catalog.store.open(sha)
    assert stored != data and b"PrivateCam" not in stored and b"Exif" not in stored
    reopened = Image.open(io.BytesIO(stored))
    assert reopened.format == "PNG" and not reopened.getexif() and "exif" not in reopened.info


def test_same_request_twice_is_skipped_and_same_bytes_same_id(catalog: Catalog) -> None:
    items = [item(f"p{i}", png(p)) for i, p in enumerate(photos(3))]
    catalog.ingestor().ingest(items)
    again = catalog.ingestor().ingest(items)
    assert [o.status for o in again] == ["skipped"] * 3
    shared = png(photos(1, seed=5)[0])
    a, b = catalog.ingestor().ingest([item("x", shared, "m1"), item("y", shared, "m2")])
    with catalog.sessions() as s:
        shas = s.scalars(
            select(ProductImage.sha256).where(ProductImage.product_id.in_([a.product_id, b.product_id]))
        )
        assert set(shas) == {content_id(shared)}
        assert s.scalar(select(func.count(ProductImage.id))) == 5


def test_bad_items_fail_alone_with_reasons(catalog: Catalog) -> None:
    good = png(photos(1)[0])
    out = catalog.ingestor().ingest(
        [
            item("pdf", b"%PDF-1.4 not an image"),
            item("cut", good[: len(good) // 2]),
            IngestItem("notitle", ProductIn("acme", "s", " "), [good]),
            item("badcat", good, category="Spaceship"),
            item("ok", good),
        ]
    )
    status = {o.key: (o.status, o.error or "") for o in out}
    assert status["ok"][0] == "done"
    assert status["pdf"][0] == "failed" and "supported" in status["pdf"][1]
    assert status["cut"][0] == "failed"
    assert status["notitle"][0] == "failed" and "title" in status["notitle"][1]
    assert status["badcat"][0] == "failed" and "unknown category" in status["badcat"][1]
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 1
    assert list(catalog.store.ids()) == [content_id(good)]


def test_confident_disagreement_with_the_declared_category_is_flagged(catalog: Catalog) -> None:
    photo = png(photos(1, seed=3)[0])
    (_probe,) = catalog.ingestor().ingest([item("probe", photo)])
    with catalog.sessions() as s:
        predicted, conf = s.execute(select(ProductImage.predicted_category, ProductImage.confidence)).one()
    assert conf > 0.99  # the test model is made very sure of itself
    other = next(c for c in catalog.categories() if c != predicted)
    _right, _wrong = catalog.ingestor().ingest(
        [item("right", photo, "m2", predicted), item("wrong", photo, "m3", other)]
    )
    with catalog.sessions() as s:
        flags = dict(s.execute(select(Product.sku, ProductImage.mismatch).join(Product)).all())
    assert flags == {"probe": False, "right": False, "wrong": True}


def test_a_new_declared_category_judges_the_images_already_there(catalog: Catalog) -> None:
    first, second = (png(p) for p in photos(2, seed=3))
    (probe,) = catalog.ingestor().ingest([item("probe", first)])
    with catalog.sessions() as s:
        img = s.get(ProductImage, probe.image_ids[0])
        assert img.confidence > 0.99 and img.probabilities[img.predicted_category] == img.confidence
        predicted = img.predicted_category
    other = next(c for c in catalog.categories() if c != predicted)
    # The same SKU sent again, now declared as a category its first image rules out, with a second image.
    catalog.ingestor().ingest(
        [IngestItem("probe", ProductIn("acme", "probe", "P", category=other), [second])]
    )

    def flags() -> dict[int, bool]:
        with catalog.sessions() as s:
            return dict(
                s.execute(select(ProductImage.id, ProductImage.mismatch).order_by(ProductImage.id)).all()
            )

    assert flags()[probe.image_ids[0]] is True
    with catalog.sessions.begin() as s:  # an image recorded before probabilities were kept
        s.get(ProductImage, probe.image_ids[0]).probabilities = None
    catalog.ingestor().ingest(
        [IngestItem("probe", ProductIn("acme", "probe", "P", category=predicted), [second])]
    )
    assert flags()[probe.image_ids[0]] is False  # agrees now: cleared
    catalog.ingestor().ingest(
        [IngestItem("probe", ProductIn("acme", "probe", "P", category=other), [second])]
    )
    assert flags()[probe.image_ids[0]] is False  # nothing to judge a new disagreement by


def test_quality_flags_are_stored(catalog: Catalog) -> None:
    tiny = Image.new("L", (12, 12), 255)
    black = Image.new("L", (40, 40), 0)
    catalog.ingestor().ingest(
        [item("tiny", png(tiny)), item("black", png(black)), item("fine", png(photos(1)[0]))]
    )
    with catalog.sessions() as s:
        flags = dict(s.execute(select(Product.sku, ProductImage.quality_flags).join(Product)).all())
    assert "too_small" in flags["tiny"] and "too_dark" in flags["black"] and flags["fine"] == ""


@pytest.mark.slow
def test_faces_in_shopper_photos_are_blurred_in_the_stored_copy(catalog: Catalog) -> None:
    data = Path(ASTRONAUT).read_bytes()
    assert detect_faces(Image.open(ASTRONAUT))  # the real photo has a detectable face
    _shopper, _merchant = catalog.ingestor().ingest(
        [item("review", data, "m1", blur=True), item("shot", data, "m2")]
    )
    with catalog.sessions() as s:
        rows = {
            sku: (n, sha)
            for sku, n, sha in s.execute(
                select(Product.sku, ProductImage.faces_blurred, ProductImage.sha256).join(Product)
            )
        }
    assert rows["review"][0] >= 1 and rows["shot"][0] == 0
    # The same upload bytes, two stored copies: the blurred one has its own content id.
    assert rows["shot"][1] == content_id(data) != rows["review"][1]
    assert detect_faces(Image.open(io.BytesIO(catalog.store.open(rows["review"][1])))) == []
    assert detect_faces(
        Image.open(io.BytesIO(catalog.store.open(rows["shot"][1])))
    )  # merchant shots are kept as sent
    # A later merchant upload of the same bytes never replaces what the shopper's product shows.
    (again,) = catalog.ingestor().ingest([item("review2", data, "m3", blur=True)])
    with catalog.sessions() as s:
        sha = s.scalar(select(ProductImage.sha256).where(ProductImage.product_id == again.product_id))
    assert sha == rows["review"][1]


@pytest.mark.slow
def test_near_duplicates_across_merchants_are_grouped(catalog: Catalog) -> None:
    base = photos(6, seed=11)
    rng = np.random.default_rng(0)
    items = [item(f"orig{i}", png(p), "m1") for i, p in enumerate(base)]
    items.append(item("copy0", near_duplicate(base[0], rng), "m2"))
    items.append(item("copy1", near_duplicate(base[1], rng), "m3"))
    catalog.ingestor().ingest(items[:6])
    catalog.ingestor().ingest(items[6:])  # a later batch still finds the earlier originals
    with catalog.sessions() as s:
        groups = dict(s.execute(select(Product.sku, ProductImage.duplicate_group).join(Product)).all())
    assert groups["copy0"] is not None and groups["copy0"] == groups["orig0"]
    assert groups["copy1"] is not None and groups["copy1"] == groups["orig1"] != groups["copy0"]
    assert all(groups[f"orig{i}"] is None for i in range(2, 6))


def test_the_same_photo_within_one_product_is_not_a_duplicate(catalog: Catalog) -> None:
    p = photos(1, seed=2)[0]
    catalog.ingestor().ingest(
        [IngestItem("k", ProductIn("m", "s", "T"), [png(p), near_duplicate(p, np.random.default_rng(1))])]
    )
    with catalog.sessions() as s:
        assert s.scalars(select(ProductImage.duplicate_group)).all() == [None, None]


def test_the_duplicate_check_keeps_each_view_as_one_byte_a_pixel(catalog: Catalog) -> None:
    catalog.ingestor().ingest([item(f"v{i}", png(p)) for i, p in enumerate(photos(3, seed=5))])
    views = catalog.duplicate_cache("v1").views
    assert views.dtype == np.uint8 and views.shape == (3, 32 * 32)  # 1 KiB an image held, not 4 as float32


def test_index_answers_with_the_image_itself_first(catalog: Catalog) -> None:
    out = catalog.ingestor().ingest([item(f"p{i}", png(p)) for i, p in enumerate(photos(8, seed=4))])
    index = catalog.space.index("v1", DIM)
    with catalog.sessions() as s:
        vec = s.get(Embedding, (out[3].image_ids[0], "v1")).vector
    scores, ids = index.search(vec[None].astype(np.float32), 3)
    assert ids[0][0] == out[3].image_ids[0] and scores[0][0] == pytest.approx(1.0, abs=1e-4)


def test_a_full_store_is_reported_only_after_every_write_has_ended(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor = catalog.ingestor()
    images = [png(p) for p in photos(3)]
    ended: list[str] = []

    def put(sha256: str, image: Image.Image) -> None:
        if sha256 == content_id(images[0]):  # the first write finds the disk full at once ...
            raise StoreFullError("the image store is full; nothing was stored")
        time.sleep(0.3)  # ... while the others are still writing
        ended.append(sha256)

    monkeypatch.setattr(ingestor.store, "put", put)
    with pytest.raises(StoreFullError):
        ingestor.ingest([item(f"p{i}", data) for i, data in enumerate(images)])
    assert len(ended) == 2  # no write was left running behind the error


def test_a_catalogue_with_a_store_size_cap_stores_a_large_photo_smaller_and_still_finds_it(
    models_root: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplens.catalog.service import catalog_config
    from shoplens.catalog.similar import find_similar
    from shoplens.config import Settings
    from shoplens.inference.store import ModelStore
    from tests.support.bundles import NAME

    monkeypatch.setenv("SHOPLENS_STORE_MAX_SIDE", "96")  # as an operator sets it
    config = catalog_config(Settings(catalog_dir=tmp_path / "catalog", database_url=database_url))
    assert config.store_max_side == 96
    catalog = Catalog(config, ModelStore(models_root, NAME))
    try:
        photo = photos(1, seed=8, size=300)[0]
        out = catalog.ingestor().ingest([IngestItem("k", ProductIn("m", "big", "Big"), [png(photo)])])
        with catalog.sessions() as s:
            img = s.scalars(select(ProductImage)).one()
        assert (img.width, img.height) == photo.size  # the row keeps the photo's own size
        assert max(Image.open(io.BytesIO(catalog.store.open(img.sha256))).size) == 96
        assert out[0].image_ids == [img.id]
        found = find_similar(catalog, photo=png(photo), k=1)  # searched with the photo itself: it comes first
        assert [h.image.id for h in found.hits] == [img.id] and found.hits[0].similarity > 0.99
    finally:
        catalog.close()


def test_a_large_photo_is_stored_whole_and_catalogued_as_classify_reads_its_bytes(
    catalog: Catalog, models_root: Path
) -> None:
    make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE)  # reads photos, decoded reduced
    (models_root / NAME / "ACTIVE").write_text("v3\n")
    big = product_photo().resize((2000, 2400), Image.Resampling.BICUBIC).convert("RGB")
    data = encode(big, "JPEG", quality=90)
    out = catalog.ingestor().ingest([item("big", data)])
    model = catalog.model()
    assert model.version == "v3"
    served = model.predictor.predict_images([decode_image(data, at_least=PHOTO_PRE.decode_side)])[0]
    whole = model.predictor.predict_images([decode_image(data)])[0]
    assert abs(whole.top[0][1] - served.top[0][1]) > 1e-5  # read whole, the photo is another input
    with catalog.sessions() as s:
        img = s.scalars(select(ProductImage)).one()
        vector = s.scalars(select(Embedding.vector).where(Embedding.image_id == img.id)).one()
    assert (img.width, img.height) == (2000, 2400) and out[0].image_ids == [img.id]
    assert Image.open(io.BytesIO(catalog.store.open(img.sha256))).size == (2000, 2400)  # kept whole
    assert img.predicted_category == served.label
    assert img.confidence == pytest.approx(served.top[0][1], abs=1e-6)  # what /v1/classify answers
    named = [(c.name, c.hex, c.share) for c in photo_colours(data)]  # what /v1/classify?colours=true says
    assert [
        (c.name, c.hex, c.share) for c in image_colours(decode_image(data))
    ] != named  # from the whole decode
    assert [(c.name, c.hex, c.share) for c in img.colours] == named
    array, _ = read_image(decode_image(data, at_least=PHOTO_PRE.decode_side), PHOTO_PRE)
    probs, features = model.predictor.run(array[None])
    np.testing.assert_allclose(
        np.asarray(vector, np.float32), model.predictor.search_vectors(probs, features)[0], atol=1e-6
    )


def test_a_product_another_writer_created_meanwhile_gets_the_images_not_an_error(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplens.catalog.ingest as ingest_module

    first, second = photos(2, seed=21)
    catalog.ingestor().ingest([item("same", png(first))])  # the other writer's product, committed
    real, calls = ingest_module.load_products, []

    def read_before_it_was_committed(session, declared):
        calls.append(1)
        return {} if len(calls) <= 2 else real(session, declared)  # the unchanged check's read, the write's

    monkeypatch.setattr(ingest_module, "load_products", read_before_it_was_committed)
    (out,) = catalog.ingestor().ingest([item("same", png(second))])
    assert out.status == "done" and len(calls) == 3  # (merchant, SKU) clashed once, then it was added to
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 1
        assert s.scalar(select(func.count(ProductImage.id))) == 2
