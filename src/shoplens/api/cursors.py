"""Opaque list cursors: where the next page starts, bound to the filters of the list they came from."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence

from shoplens.api.errors import invalid
from shoplens.fields import MAX_INT

MAX_CURSOR = 200  # characters


def _digest(filters: Sequence[object]) -> str:
    """A short fingerprint of a list's filters (a cursor only continues the list it came from)."""
    return hashlib.sha256(
        json.dumps([str(f) if f is not None else None for f in filters]).encode()
    ).hexdigest()[:12]


def encode_cursor(before_id: int, filters: Sequence[object]) -> str:
    """The cursor of the page after the row `before_id` (ids descending) of the list with these filters."""
    raw = json.dumps({"before": before_id, "filters": _digest(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: Sequence[object]) -> int:
    """The id a cursor continues before; 422 for one that is not from this list (or not a cursor)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before, digest = data["before"], data["filters"]
    except (ValueError, TypeError, KeyError):
        raise invalid(("query", "cursor"), "not a cursor this service gave") from None
    if not isinstance(before, int) or isinstance(before, bool) or not 1 <= before <= MAX_INT:
        raise invalid(("query", "cursor"), "not a cursor this service gave")
    if digest != _digest(filters):
        raise invalid(("query", "cursor"), "the cursor belongs to a list with other filters")
    return before
