"""Images from a multipart request, within limits; file names are reduced to a display string and never used."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from shoplens.imaging.decode import ACCEPTED_MEDIA_TYPES

FILE_FIELDS = ("file", "files")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 200

IMAGE_TYPES = ", ".join(ACCEPTED_MEDIA_TYPES)  # what the decoder here reads, for the OpenAPI document
# The request body in the OpenAPI document (the route reads the form itself, to apply its own limits).
IMAGE_FORM = {
    "schema": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "One image."},
            "files": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "description": "Several images (up to the configured maximum).",
            },
        },
        "anyOf": [{"required": ["file"]}, {"required": ["files"]}],
    },
    "encoding": {"file": {"contentType": IMAGE_TYPES}, "files": {"contentType": IMAGE_TYPES}},
}
# For routes that take exactly one image.
ONE_IMAGE_FORM = {
    "schema": {
        "type": "object",
        "properties": {"file": IMAGE_FORM["schema"]["properties"]["file"]},  # type: ignore[index]
        "required": ["file"],
    },
    "encoding": {"file": {"contentType": IMAGE_TYPES}},
}
ONE_IMAGE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": ONE_IMAGE_FORM}}}


@dataclass(frozen=True)
class Upload:
    """One uploaded image: its position, a safe display name, and its bytes."""

    index: int
    filename: str | None
    data: bytes


def display_name(filename: str | None) -> str | None:
    """The last path component without control characters, cut to MAX_NAME; None when nothing is left."""
    if not filename:
        return None
    base = _UNSAFE.sub("", re.split(r"[\\/]", filename)[-1]).strip()
    return base[:MAX_NAME] if base not in ("", ".", "..") else None


class _Collector:
    """python-multipart callbacks that keep the file parts of FILE_FIELDS as bytes and count the other parts."""

    def __init__(self, max_files: int, max_parts: int) -> None:
        self.max_files, self.max_parts = max_files, max_parts
        self.uploads: list[Upload] = []
        self.fields = 0
        self._headers: dict[bytes, bytes] = {}
        self._name: list[bytes] = []
        self._value: list[bytes] = []
        self._data: list[bytes] | None = None  # the current file part's chunks (None: a part we do not keep)
        self._field = ""
        self._filename: str | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """The callback table MultipartParser takes."""
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers, self._data = {}, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name.append(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value.append(data[start:end])

    def on_header_end(self) -> None:
        self._headers[b"".join(self._name).lower()] = b"".join(self._value)
        self._name.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise HTTPException(400, 'every form part needs a Content-Disposition header with a "name"')
        self._field = _text(options[b"name"])
        if b"filename" not in options:
            self.fields += 1
            if self.fields > self.max_parts:
                raise HTTPException(400, f"too many fields: at most {self.max_parts} besides the files")
            if self._field in FILE_FIELDS:
                raise HTTPException(400, f"field {self._field!r} must be a file upload (with a filename)")
            return
        if self._field not in FILE_FIELDS:
            raise HTTPException(400, f"unexpected file field {self._field!r}; use 'file' or 'files'")
        if len(self.uploads) >= self.max_files:
            raise HTTPException(400, f"too many files: at most {self.max_files} in one request")
        self._filename, self._data = display_name(_text(options[b"filename"])), []

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._data is not None:
            self._data.append(data[start:end])

    def on_part_end(self) -> None:
        if self._data is not None:
            self.uploads.append(Upload(len(self.uploads), self._filename, b"".join(self._data)))
            self._data = None


def _text(raw: bytes) -> str:
    """A header parameter as text: UTF-8 if it is, else Latin-1 (as Starlette decodes form fields)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def read_uploads(request: Request, max_files: int, max_parts: int) -> list[Upload]:
    """The images in the `file` / `files` fields, in order; 4xx for a request that is not such a form.

    The body is streamed through python-multipart's parser and only the image parts are kept (as bytes):
    the request body limit caps what that can hold, and nothing is spooled to disk.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise HTTPException(
            415, "send multipart/form-data with the image in the field 'file' (or several in 'files')"
        )
    if not params.get(b"boundary"):
        raise HTTPException(400, "the multipart/form-data content type has no boundary")
    collector = _Collector(max_files, max_parts)
    parser = MultipartParser(params[b"boundary"], collector.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise HTTPException(400, "invalid multipart/form-data body") from None
    if not collector.uploads:
        raise HTTPException(400, "no image: send it in the multipart field 'file' (or several in 'files')")
    return collector.uploads
