"""Folder and manifest data streamed from disk: the same samples as the in-memory path, decoded when read."""

import numpy as np
import pytest

from shoplens.data import folder
from shoplens.data.dataset import ImageDataset
from shoplens.data.folder import load_csv_manifest, load_image_folder
from shoplens.data.stream import FileDataset, in_memory
from shoplens.imaging import PreprocessConfig
from tests.support.data import write_image_folder

CFG = PreprocessConfig(size=(20, 20), mode="L", resize="pad")


@pytest.fixture
def shop(tmp_path):
    root = write_image_folder(tmp_path / "shop", 30, num_classes=3)
    (root / "c2" / "zzz_broken.png").write_bytes(b"not a png")  # the last file of the last class
    return root


def test_a_streamed_folder_yields_the_samples_of_the_in_memory_one(shop):
    streamed, loaded = load_image_folder(shop, CFG, stream=True), load_image_folder(shop, CFG)
    assert isinstance(streamed, FileDataset) and isinstance(loaded, ImageDataset)
    assert streamed.class_names == loaded.class_names == ["c0", "c1", "c2"]
    assert len(streamed) == len(loaded) + 1 == 31
    for i in range(len(loaded)):
        pixels, label = streamed[i]
        assert np.array_equal(pixels, loaded.images[i]) and label == loaded.labels[i]
    assert [s["path"] for s in loaded.meta["skipped"]] == [str(shop / "c2" / "zzz_broken.png")]
    pixels, label = streamed[30]  # unreadable: the next readable photo stands in (the batch keeps its size)
    assert np.array_equal(pixels, loaded.images[0]) and label == loaded.labels[0]


def test_subsets_and_manifests_stream_the_same_photos(shop):
    streamed, loaded = load_image_folder(shop, CFG, stream=True), load_image_folder(shop, CFG)
    rows = np.array([3, 17, 5])
    assert np.array_equal(in_memory(streamed.subset(rows)).images, loaded.subset(rows).images)
    assert streamed.subset(rows).class_counts() == loaded.subset(rows).class_counts()
    manifest = shop / "photos.csv"
    manifest.write_text(
        "path,label\n" + "".join(f"{streamed.path(i)},c{k % 2}\n" for k, i in enumerate(rows))
    )
    listed = load_csv_manifest(manifest, CFG, stream=True)
    assert np.array_equal(in_memory(listed).images, loaded.subset(rows).images)
    assert list(listed.labels) == [0, 1, 0] and listed.class_names == ["c0", "c1"]


def test_large_folders_stream_by_default_small_ones_load(shop, monkeypatch):
    assert isinstance(load_image_folder(shop, CFG, stream=None), ImageDataset)
    monkeypatch.setattr(folder, "STREAM_ABOVE", 10)
    assert isinstance(load_image_folder(shop, CFG, stream=None), FileDataset)
    first = load_image_folder(shop, CFG, stream=True).checksum
    photo = min((shop / "c0").iterdir())
    photo.rename(shop / "c1" / photo.name)  # relabelled: another data set
    assert load_image_folder(shop, CFG, stream=True).checksum != first


def test_a_large_photo_is_read_for_training_as_classify_reads_it(tmp_path):
    from PIL import Image

    from shoplens.imaging import decode_image, read_image
    from tests.support.bundles import PHOTO_PRE
    from tests.support.images import encode, product_photo

    (tmp_path / "Coat").mkdir()
    data = encode(
        product_photo().resize((2000, 2400), Image.Resampling.BICUBIC).convert("RGB"), "JPEG", quality=90
    )
    (tmp_path / "Coat" / "big.jpg").write_bytes(data)
    pixels, _ = load_image_folder(tmp_path, PHOTO_PRE, stream=True)[0]
    served, _ = read_image(decode_image(data, at_least=PHOTO_PRE.decode_side), PHOTO_PRE)  # as /v1/classify
    assert np.array_equal(pixels, served)
    assert decode_image(data, at_least=PHOTO_PRE.decode_side).size == (250, 300)  # read from 1/8 of the photo
