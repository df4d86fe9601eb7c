"""The web console: plain HTML, CSS and ES modules shipped as package data and served by the API at `/`.

No build step and nothing from a CDN: the console works offline. Only files named here are ever served.
"""

from __future__ import annotations

import re
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # ES modules need this type, whatever the OS's mime table says
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(?:js|css|svg|png)$")


def static_files() -> dict[str, Path]:
    """The servable files by name: plain files directly in the static folder with an allowed name and type."""
    if not STATIC_DIR.is_dir():
        return {}
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and STATIC_NAME.match(p.name)}
