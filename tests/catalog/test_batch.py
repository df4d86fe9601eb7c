"""Batch jobs' per-image stages (classify-batch, Ray ingestion) read each photo as /v1/classify reads its bytes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoplens.catalog.batch import cue_maps, decode_stage, prepare_stage, read_bytes
from shoplens.imaging import DEFAULT_MAX_PIXELS, decode_image, read_image
from shoplens.imaging.decode import DEFAULT_MAX_BYTES
from shoplens.imaging.quality import QualityConfig
from tests.support.bundles import PHOTO_PRE
from tests.support.images import encode, product_photo


def test_a_large_photo_is_read_for_the_model_as_classify_reads_it_and_prepared_whole(tmp_path: Path) -> None:
    big = product_photo().resize((2000, 2400), Image.Resampling.BICUBIC).convert("RGB")
    data = encode(big, "JPEG", quality=90)
    (tmp_path / "big.jpg").write_bytes(data)
    batch = {"key": np.array(["big"], object), "image": np.array([str(tmp_path / "big.jpg")], object)}
    served, served_cues = read_image(decode_image(data, at_least=PHOTO_PRE.decode_side), PHOTO_PRE)
    assert not np.array_equal(
        read_image(decode_image(data), PHOTO_PRE)[0], served
    )  # read whole: another input

    decoded = decode_stage(batch, PHOTO_PRE, DEFAULT_MAX_PIXELS)
    assert decoded["error"][0] == "" and np.array_equal(decoded["input"][0], served)
    assert cue_maps(decoded["cues"]) == [served_cues]  # to the last bit: the detector's trees split on them

    batch["error"] = np.array([""], object)
    prepared = prepare_stage(batch, PHOTO_PRE, DEFAULT_MAX_PIXELS, QualityConfig(), False, DEFAULT_MAX_BYTES)
    assert prepared["error"][0] == "" and np.array_equal(prepared["input"][0], served)
    assert cue_maps(prepared["cues"]) == [served_cues]
    assert pickle.loads(prepared["prepared"][0]).image.size == (2000, 2400)  # the catalogue stores it whole


@pytest.mark.slow
def test_an_object_store_without_credentials_fails_the_image_instead_of_hanging() -> None:
    with pytest.raises(OSError, match=r"Retry policy exhausted|access token|credentials"):
        read_bytes(
            "gs://shoplens-no-such-bucket/photo.png"
        )  # no token, no network: within REMOTE_RETRY_S tries
