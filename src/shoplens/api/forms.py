"""Forms read strictly: a text field whose bytes are not valid in the form's charset is a 400, never stored.

Starlette reads such a field as Latin-1 instead, so bytes that are not UTF-8 would reach the catalogue as
mojibake (a title, a headline). Everything else is Starlette's form reading, with its limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from fastapi import HTTPException, Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser


class StrictMultiPartParser(MultiPartParser):
    """Starlette's multipart parser, refusing text fields that do not decode in the form's charset."""

    def on_part_end(self) -> None:
        """Check a text field's bytes before Starlette decodes them (falling back to Latin-1)."""
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset)
            except UnicodeDecodeError:
                name = part.field_name[:40]
                raise MultiPartException(f"form field {name!r} is not valid {self._charset} text") from None
        super().on_part_end()


@asynccontextmanager
async def read_form(request: Request, max_files: int, max_fields: int) -> AsyncIterator[FormData]:
    """The request's form (multipart read strictly, see StrictMultiPartParser; 400 when malformed), closed after."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        async with request.form(max_files=max_files, max_fields=max_fields) as form:
            yield form
        return
    try:
        async with aclosing(request.stream()) as stream:
            parser = StrictMultiPartParser(
                request.headers, stream, max_files=max_files, max_fields=max_fields
            )
            form = await parser.parse()
    except MultiPartException as e:
        raise HTTPException(400, e.message) from None
    try:
        yield form
    finally:
        await form.close()
