"""Face privacy on a real photo: faces are found, hidden beyond detection, and nothing else changes."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import skimage
from PIL import Image, ImageDraw

from shoplens.imaging.privacy import blur_faces, detect_faces

pytestmark = pytest.mark.slow

ASTRONAUT = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    """A real 512x512 RGB portrait (Eileen Collins) that ships inside scikit-image."""
    with Image.open(ASTRONAUT) as img:
        img.load()
        return img.convert("RGB")


def inside(box: tuple[int, int, int, int], x: int, y: int) -> bool:
    """Whether a pixel lies in a (left, top, width, height) box."""
    left, top, width, height = box
    return left <= x < left + width and top <= y < top + height


def test_face_is_found_in_the_portrait(astronaut: Image.Image) -> None:
    faces = detect_faces(astronaut)
    assert len(faces) >= 1
    assert any(inside(face, 225, 110) for face in faces)  # her face is around (225, 110)


def test_blurred_portrait_has_no_detectable_face(astronaut: Image.Image) -> None:
    hidden, count = blur_faces(astronaut)
    assert count >= 1
    assert hidden.size == astronaut.size and hidden.mode == astronaut.mode
    assert detect_faces(hidden) == []
    assert detect_faces(hidden, min_neighbors=2) == []  # not even a weak hit survives
    before, after = np.asarray(astronaut), np.asarray(hidden)
    changed = np.any(before != after, axis=-1)
    ys, xs = np.nonzero(changed)
    # Only the face and its margin changed: a small part of the frame around her face.
    assert changed.mean() < 0.15
    assert xs.min() > 100 and xs.max() < 350 and ys.max() < 250
    assert np.array_equal(before[300:], after[300:])


def test_input_image_is_not_modified(astronaut: Image.Image) -> None:
    original = np.asarray(astronaut).copy()
    blur_faces(astronaut)
    assert np.array_equal(np.asarray(astronaut), original)


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA"])
def test_other_modes_keep_their_mode(astronaut: Image.Image, mode: str) -> None:
    img = astronaut.convert(mode)
    hidden, count = blur_faces(img)
    assert count >= 1 and hidden.mode == mode and hidden.size == img.size
    assert detect_faces(hidden) == []


def test_image_without_faces_is_unchanged() -> None:
    product = Image.new("RGB", (200, 160), (245, 245, 245))
    draw = ImageDraw.Draw(product)
    draw.rectangle((60, 30, 140, 130), fill=(30, 60, 160))
    draw.ellipse((80, 50, 120, 90), fill=(200, 40, 40))
    hidden, count = blur_faces(product)
    assert count == 0
    assert hidden is not product
    assert np.array_equal(np.asarray(hidden), np.asarray(product))
    assert hidden.mode == product.mode and hidden.size == product.size


def test_tiny_images_are_accepted() -> None:
    tiny = Image.new("L", (28, 28), 0)
    assert detect_faces(tiny) == []
    assert detect_faces(Image.new("L", (10, 10), 0)) == []
    assert blur_faces(tiny)[1] == 0


def test_large_photo_is_searched_at_reduced_size_and_boxes_map_back(astronaut: Image.Image) -> None:
    big = astronaut.resize((1536, 1536), Image.Resampling.BICUBIC)
    faces = detect_faces(big, max_side=512)
    assert any(inside(face, 225 * 3, 110 * 3) for face in faces)
    assert all(face[2] > 150 for face in faces if inside(face, 225 * 3, 110 * 3))


def test_concurrent_detection_gives_the_same_answer(astronaut: Image.Image) -> None:
    expected = detect_faces(astronaut)
    results: list[list[tuple[int, int, int, int]]] = []
    threads = [threading.Thread(target=lambda: results.append(detect_faces(astronaut))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4
