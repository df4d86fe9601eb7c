"""The local image store: content-addressed layout, no metadata, atomic writes, sweeping, thumbnails."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from shoplens.catalog.storage import (
    ImageNotFoundError,
    ImageStore,
    InvalidImageIdError,
    LocalImageStore,
    StoredImage,
)
from shoplens.errors import ShopLensError
from shoplens.imaging.decode import decode_image
from tests.support.protocols import mismatches


def image_id(n: int) -> str:
    """A valid sha256 hex id derived from a number."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def pixels(width: int = 28, height: int = 28, mode: str = "L", seed: int = 0) -> Image.Image:
    """A random image in the given mode."""
    bands = len(mode)
    shape = (height, width) if bands == 1 else (height, width, bands)
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), mode)


def opened(data: bytes) -> Image.Image:
    """Bytes decoded with Pillow directly (not via our safe decoder), so .info shows what is in the file."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.fixture
def store(tmp_path: Path) -> LocalImageStore:
    """A store in a fresh folder, without fsync (tests need no durability)."""
    return LocalImageStore(tmp_path / "images", fsync=False)


def test_implements_every_image_store_method_as_declared() -> None:
    assert mismatches(LocalImageStore, ImageStore) == []


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_put_stores_the_same_pixels(store: LocalImageStore, mode: str) -> None:
    img = pixels(40, 30, mode)
    key = image_id(1)
    record = store.put(key, img)
    assert record == StoredImage(key, 40, 30, len(store.open(key)))
    assert store.exists(key)
    assert (store.root / key[:2] / f"{key}.png").is_file()
    back = opened(store.open(key))
    assert back.format == "PNG" and back.mode == mode and back.size == (40, 30)
    assert np.array_equal(np.asarray(back), np.asarray(img))


def test_jpeg_exif_and_gps_are_not_stored(store: LocalImageStore) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0132] = "2024:01:02 03:04:05"  # DateTime
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS IFD
    buffer = io.BytesIO()
    pixels(64, 48, "RGB").save(buffer, "JPEG", exif=exif, icc_profile=b"\0" * 128, comment=b"shot at home")
    source = buffer.getvalue()
    assert b"Exif" in source and b"SecretCam" in source
    key = image_id(2)
    store.put(key, opened(source))  # Pillow's own decoder: the image still carries its .info metadata
    for variant in ("full", "thumb"):
        data = store.open(key, variant)
        assert b"Exif" not in data and b"SecretCam" not in data and b"shot at home" not in data
        back = opened(data)
        assert len(back.getexif()) == 0
        assert not set(back.info) & {"exif", "icc_profile", "comment", "dpi"}


def test_png_text_chunks_are_not_stored(store: LocalImageStore) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe, 12 Private Street")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPSLatitude</x:xmpmeta>")
    buffer = io.BytesIO()
    pixels(32, 32, "RGB").save(buffer, "PNG", pnginfo=info, dpi=(300, 300))
    key = image_id(3)
    store.put(key, opened(buffer.getvalue()))
    data = store.open(key)
    for marker in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP", b"pHYs", b"Jane Doe", b"xmpmeta"):
        assert marker not in data
    assert opened(data).text == {}


def test_put_is_idempotent(store: LocalImageStore) -> None:
    key = image_id(4)
    first = store.put(key, pixels(28, 28, seed=1))
    stored = store.open(key)
    again = store.put(key, pixels(50, 50, seed=2))  # a different image under the same id is ignored
    assert again == first
    assert store.open(key) == stored
    assert list(store.ids()) == [key]


@pytest.mark.parametrize(
    "bad",
    [
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "a" * 62 + "/x",
        "",
        "a" * 64 + "\n",
        "..",
    ],
)
def test_invalid_ids_are_rejected(store: LocalImageStore, bad: str) -> None:
    for call in (
        lambda: store.put(bad, pixels()),
        lambda: store.exists(bad),
        lambda: store.open(bad),
        lambda: store.delete(bad),
    ):
        with pytest.raises(InvalidImageIdError) as info:
            call()
        assert isinstance(info.value, ShopLensError) and isinstance(info.value, ValueError)
    assert list(store.root.rglob("*")) == []


def test_missing_image_raises_not_found(store: LocalImageStore) -> None:
    with pytest.raises(ImageNotFoundError):
        store.open(image_id(5))
    with pytest.raises(ImageNotFoundError):
        store.open(image_id(5), "thumb")
    assert not store.exists(image_id(5))
    store.delete(image_id(5))  # deleting nothing is fine


def test_delete_removes_image_and_thumbnail(store: LocalImageStore) -> None:
    key = image_id(6)
    store.put(key, pixels())
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(ImageNotFoundError):
        store.open(key, "thumb")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("size", "expected"),
    [((28, 28), (128, 128)), ((400, 200), (128, 64)), ((60, 300), (26, 128)), ((128, 128), (128, 128))],
)
def test_thumbnail_fits_the_square_and_keeps_aspect(
    store: LocalImageStore, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    key = image_id(7)
    store.put(key, pixels(*size, mode="RGB"))
    thumb = opened(store.open(key, "thumb"))
    assert thumb.size == expected and thumb.mode == "RGB"


def test_thumbnail_size_is_configurable(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path, thumb_size=64, fsync=False)
    store.put(image_id(8), pixels(28, 14))
    assert opened(store.open(image_id(8), "thumb")).size == (64, 32)


def test_ids_lists_every_stored_image(store: LocalImageStore) -> None:
    keys = sorted(image_id(n) for n in range(20))
    for key in keys:
        store.put(key, pixels())
    (store.root / "notes.txt").write_text("not an image")
    assert list(store.ids()) == keys


def test_sweep_removes_unkept_images_and_temp_files(store: LocalImageStore) -> None:
    keys = [image_id(n) for n in range(6)]
    for key in keys:
        store.put(key, pixels())
    leaf = store.root / keys[0][:2]
    stray = leaf / f".{keys[0]}.png.x1y2z3.tmp"  # what a put killed before its rename leaves behind
    stray.write_bytes(b"\x89PNG half a file")
    orphan = store.root / "ab" / (("abcd" + "0" * 60) + ".thumb.png")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"thumb whose image is gone")
    kept = set(keys[:3])
    assert store.sweep(kept, grace_s=0) == 3 + 1 + 1  # three images, the temp file, the orphan thumbnail
    assert sorted(store.ids()) == sorted(kept)
    assert not stray.exists() and not orphan.exists()
    for key in keys[3:]:
        assert not (store.root / key[:2] / f"{key}.thumb.png").exists()
    for key in kept:
        assert opened(store.open(key, "thumb")).size == (128, 128)
    assert store.sweep(lambda key: key == keys[0], grace_s=0) == 2
    assert list(store.ids()) == [keys[0]]


def test_sweep_spares_files_younger_than_the_grace_period(store: LocalImageStore) -> None:
    key = image_id(9)
    store.put(key, pixels())
    store.open(key, "thumb")  # thumbnails are made on first request
    temp = store.root / key[:2] / f".{key}.png.inflight.tmp"
    temp.write_bytes(b"being written")
    assert store.sweep(set()) == 0  # default grace: a put in flight and its temp file survive
    assert store.exists(key) and temp.exists()
    old = time.time() - 3600
    os.utime(temp, (old, old))
    os.utime(store.root / key[:2] / f"{key}.png", (old, old))
    thumb = store.root / key[:2] / f"{key}.thumb.png"
    assert store.sweep(set()) == 2  # the old temp file and the old image; its thumbnail is still fresh
    assert not temp.exists() and not store.exists(key) and thumb.exists()
    os.utime(thumb, (old, old))
    assert store.sweep(set()) == 1  # now an orphan past the grace period
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_failed_write_leaves_no_file_under_the_final_name(
    store: LocalImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = image_id(10)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("shoplens.files.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.put(key, pixels())
    assert not store.exists(key)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []  # the temp file was cleaned up too


def test_stored_file_is_decodable_by_the_safe_decoder(store: LocalImageStore) -> None:
    img = pixels(28, 28)
    store.put(image_id(11), img)
    assert np.array_equal(np.asarray(decode_image(store.open(image_id(11)))), np.asarray(img))


def test_fsync_store_and_webp_format(tmp_path: Path) -> None:
    durable = LocalImageStore(tmp_path / "png", fsync=True)
    assert durable.put(image_id(12), pixels()).width == 28
    webp = LocalImageStore(tmp_path / "webp", fmt="WEBP", fsync=False)
    img = pixels(30, 20, "RGB")
    record = webp.put(image_id(13), img)
    assert (record.width, record.height) == (30, 20)
    back = opened(webp.open(image_id(13)))
    assert back.format == "WEBP" and np.array_equal(np.asarray(back.convert("RGB")), np.asarray(img))
    assert list(webp.ids()) == [image_id(13)]
    with pytest.raises(ValueError):
        LocalImageStore(tmp_path / "gif", fmt="GIF")


def test_stat_reads_the_record_back(store: LocalImageStore) -> None:
    record = store.put(image_id(14), pixels(33, 17))
    assert store.stat(image_id(14)) == record
    with pytest.raises(ImageNotFoundError):
        store.stat(image_id(15))


def test_put_rewrites_a_damaged_file(store: LocalImageStore) -> None:
    key = image_id(16)
    store.put(key, pixels(seed=3))
    full = store.root / key[:2] / f"{key}.png"
    full.write_bytes(b"\x89PNG\r\n")  # cut short by a disk fault or a careless hand
    with pytest.raises(ImageNotFoundError):
        store.stat(key)
    img = pixels(seed=4)
    assert store.put(key, img).width == 28
    assert np.array_equal(np.asarray(opened(store.open(key))), np.asarray(img))


def test_a_store_with_a_size_cap_keeps_large_photos_at_that_size_and_small_ones_as_they_are(
    tmp_path: Path,
) -> None:
    store = LocalImageStore(tmp_path / "capped", max_side=64, fsync=False)
    large = pixels(200, 100, "RGB", seed=3)
    stored = store.put(image_id(1), large)
    assert (stored.width, stored.height) == (64, 32) == opened(store.open(image_id(1))).size
    shrunk = np.asarray(opened(store.open(image_id(1))), np.float32)
    expected = np.asarray(large.resize((64, 32), Image.Resampling.BOX), np.float32)
    assert np.abs(shrunk - expected).mean() < 12  # the same picture, smaller
    small = pixels(40, 30, "LA", seed=4)
    assert store.put(image_id(2), small).width == 40
    assert opened(store.open(image_id(2))).tobytes() == small.tobytes()  # within the cap: stored as it is
    full = LocalImageStore(tmp_path / "full", fsync=False)  # the default keeps full size
    assert full.put(image_id(1), large).width == 200
    with pytest.raises(ValueError, match="max_side"):
        LocalImageStore(tmp_path / "bad", max_side=-1)
