"""declared_size: the size an image announces, read from its header without decoding it."""

from __future__ import annotations

import pytest
from PIL import Image

from shoplens.imaging import ACCEPTED_FORMATS, declared_size
from tests.support.images import encode, png_with_header


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_each_accepted_format_announces_its_size(fmt: str) -> None:
    assert declared_size(encode(Image.new("RGB", (38, 24)), fmt)) == (38, 24)


def test_a_bomb_header_is_read_without_decoding_and_junk_is_none() -> None:
    assert declared_size(png_with_header(30000, 30000)) == (30000, 30000)
    for junk in (b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff" + bytes(10), b"%PDF-1.4"):
        assert declared_size(junk) is None
