"""Search vectors of photos read here, or read elsewhere (bulk ingestion's worker processes) for the same model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from shoplens.catalog.recognise import ModelInputs, search_vectors
from shoplens.catalog.service import Catalog
from shoplens.imaging import PreprocessConfig, images_to_inputs
from tests.support.images import photos


def read_inputs(images: list, reading: PreprocessConfig) -> ModelInputs:  # type: ignore[type-arg]
    """The photos read elsewhere, as a worker process reads them for a model with `reading`."""
    return ModelInputs(reading, *images_to_inputs(images, reading))


def test_photos_read_elsewhere_give_what_reading_them_here_gives(catalog: Catalog) -> None:
    model, images = catalog.model(), photos(5, seed=2)
    reading = model.predictor.reading
    assert reading is not None
    here = search_vectors(model, images)
    elsewhere = search_vectors(model, images, read=read_inputs(images, reading))
    assert all(np.array_equal(a, b) for a, b in zip(here[:2], elsewhere[:2])) and here[2] == elsewhere[2]


def test_photos_read_another_way_are_read_again(catalog: Catalog) -> None:
    model, images = catalog.model(), photos(3, seed=5)
    reading = model.predictor.reading
    assert reading is not None
    other = replace(
        reading, reader="plain", invert=not reading.invert
    )  # as a model activated meanwhile reads
    stale = read_inputs(images, other)
    assert not np.array_equal(stale.batch, read_inputs(images, reading).batch)
    probs, vectors, _ = search_vectors(model, images, read=stale)
    expected_probs, expected_vectors, _ = search_vectors(model, images)
    assert np.array_equal(probs, expected_probs) and np.array_equal(vectors, expected_vectors)
