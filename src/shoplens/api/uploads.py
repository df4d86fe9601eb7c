"""Images from a multipart request, within limits; file names are reduced to a display string and never used."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile

FILE_FIELDS = ("file", "files")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 200

# The request body in the OpenAPI document (the route reads the form itself, to apply its own limits).
MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "One image."},
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Several images (up to the configured maximum).",
                        },
                    },
                }
            }
        },
    }
}


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


async def read_uploads(request: Request, max_files: int, max_parts: int) -> list[Upload]:
    """The images in the `file` / `files` fields, in order; 4xx for a request that is not such a form."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise HTTPException(
            415, "send multipart/form-data with the image in the field 'file' (or several in 'files')"
        )
    async with request.form(max_files=max_files, max_fields=max_parts) as form:
        uploads: list[Upload] = []
        for field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                if field in FILE_FIELDS:
                    raise HTTPException(400, f"field {field!r} must be a file upload (with a filename)")
                continue
            if field not in FILE_FIELDS:
                raise HTTPException(400, f"unexpected file field {field!r}; use 'file' or 'files'")
            uploads.append(Upload(len(uploads), display_name(value.filename), await value.read()))
    if not uploads:
        raise HTTPException(400, "no image: send it in the multipart field 'file' (or several in 'files')")
    return uploads
