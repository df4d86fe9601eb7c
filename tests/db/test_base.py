"""The shared column types and helpers: vectors as float32 little-endian bytes, UTC times (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from sqlalchemy import select, text, update

from shoplens.db.base import Vector, as_utc
from shoplens.db.catalog import Embedding, Merchant, Product, ProductImage
from shoplens.db.engine import open_database


def _image(session) -> int:  # type: ignore[no-untyped-def]
    """An image row to hang embeddings on; its id."""
    session.add(Merchant(id="m", name="m"))
    product = Product(merchant_id="m", sku="s", title="t")
    img = ProductImage(
        product=product,
        sha256="a" * 64,
        phash=0,
        view=b"\0",
        width=1,
        height=1,
        bytes=1,
        sharpness=0,
        brightness=0,
    )
    session.add_all([product, img])
    session.flush()
    return img.id


def test_vectors_are_stored_as_little_endian_float32_and_read_as_arrays(database_url: str) -> None:
    engine, sessions = open_database(database_url)
    v = np.array([0.5, -1.25, 3e-8, 7.0], dtype=np.float64)  # any float array goes in as float32
    with sessions.begin() as s:
        image_id = _image(s)
        s.add(Embedding(image_id=image_id, model_version="v1", vector=v))
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT vector FROM embeddings")).scalar()
    assert bytes(raw) == v.astype("<f4").tobytes()
    with sessions() as s:
        got = s.scalar(select(Embedding.vector))
        assert got.dtype == np.float32 and got.flags.writeable
        np.testing.assert_array_equal(got, v.astype(np.float32))
    with sessions.begin() as s:  # bytes written without the type (as older code did) read the same
        s.execute(
            update(Embedding).values(vector=text(":raw")), {"raw": np.float32([1, 2]).astype("<f4").tobytes()}
        )
    with sessions() as s:
        np.testing.assert_array_equal(s.scalar(select(Embedding.vector)), np.float32([1, 2]))
    engine.dispose()


def test_equal_vectors_compare_equal() -> None:
    a = np.float32([1, 2, 3])
    assert Vector().compare_values(a, a.copy()) and not Vector().compare_values(a, a[::-1])
    assert Vector().compare_values(None, None) and not Vector().compare_values(a, None)


def test_as_utc_makes_any_time_aware_utc() -> None:
    naive = datetime(2026, 1, 2, 3, 4)
    assert as_utc(naive) == naive.replace(tzinfo=UTC)
    assert as_utc(datetime(2026, 1, 2, 5, 4, tzinfo=timezone(timedelta(hours=2)))) == naive.replace(
        tzinfo=UTC
    )
