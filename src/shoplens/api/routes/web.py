"""The web console at `/` and its static files at `/static/{name}`, from package data, allowlisted by name."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response

from shoplens.web import INDEX, MEDIA_TYPES, static_files

router = APIRouter(include_in_schema=False)
# Everything from this origin; images may also be blobs (fetched with an API key). No inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated each time (ETag), so a new release is picked up at once
}


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    """A static file's bytes and its ETag, read again only when the file changes (mtime_ns: the cache key)."""
    data = path.read_bytes()
    return data, f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def _send(request: Request, path: Path) -> Response:
    """The file with its type, security headers and ETag; 304 when the browser already has this version."""
    data, etag = _load(path, path.stat().st_mtime_ns)
    headers = {**SECURITY_HEADERS, "ETag": etag}
    if etag in (t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MEDIA_TYPES[path.suffix], headers=headers)


@router.get("/")
def console(request: Request) -> Response:
    """The console page."""
    if not INDEX.is_file():
        raise HTTPException(404, "the web console is not installed with this package")
    return _send(request, INDEX)


@router.get("/static/{name}")
def static(name: str, request: Request) -> Response:
    """One of the console's files (a name not in the static folder's allowlist is 404, whatever it holds)."""
    path = static_files().get(name)
    if path is None:
        raise HTTPException(404, "no such file")
    return _send(request, path)
