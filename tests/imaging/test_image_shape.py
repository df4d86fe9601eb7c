"""Absurd shapes: thin strips are refused from their headers, and a canonical view's memory stays bounded."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from shoplens.errors import AspectRatioError, ImageTooLargeError
from shoplens.imaging import decode_image
from shoplens.imaging.decode import DEFAULT_MAX_ASPECT, check_pixel_budget, declared_pixels
from shoplens.imaging.hashing import canonical_view
from tests.imaging.strips import strip_png


@pytest.mark.parametrize("size", [(1, 30_000), (30_000, 1), (1, 30_000_000), (65, 1)])
def test_strips_longer_than_the_aspect_limit_are_refused_from_the_header(size: tuple[int, int]) -> None:
    with pytest.raises(AspectRatioError, match="more than 64 times"):
        decode_image(strip_png(*size))


def test_the_aspect_limit_is_inclusive_and_an_error_of_the_too_large_kind() -> None:
    assert decode_image(strip_png(DEFAULT_MAX_ASPECT, 1)).size == (64, 1)
    assert issubclass(AspectRatioError, ImageTooLargeError) and AspectRatioError.http_status == 422


def test_a_request_pixel_budget_is_judged_from_the_headers() -> None:
    images = [strip_png(100, 100), strip_png(200, 50), b"not an image"]
    assert declared_pixels(images) == (20_000, False)
    assert check_pixel_budget(images[:2], 20_000) == (20_000, True)
    with pytest.raises(ImageTooLargeError, match="20,000 pixels together; the limit per request is 19,999"):
        check_pixel_budget(images, 19_999)


PEAK_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from PIL import Image
    from shoplens.imaging.hashing import canonical_view
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for size in ((1, 30_000), (30_000, 1), (20_000, 400), (2, 4_000_000)):
        view = canonical_view(Image.new("L", size, 0).convert("RGB"))
        assert view.shape == (32, 32), view.shape
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """
)


def test_a_canonical_view_of_a_thin_strip_allocates_little() -> None:
    # In a fresh process, so the peak resident memory it reports is this work's alone.
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    grown_mib = int(done.stdout.strip())
    assert grown_mib < 150  # the largest input is 24 MiB as RGB; a square of its long side would be 15 TiB


def test_a_large_photo_reduced_for_its_view_still_matches_its_small_copy() -> None:
    img = Image.new("L", (40, 24), 255)
    img.paste(0, (10, 5, 30, 15))
    img.paste(120, (14, 8, 20, 12))
    small = canonical_view(img).astype(float)
    large = canonical_view(img.resize((4000, 2400), Image.Resampling.NEAREST)).astype(float)  # reduced first
    assert small.shape == large.shape == (32, 32)
    a, b = small - small.mean(), large - large.mean()
    assert (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()) > 0.995  # the duplicate check's bar
