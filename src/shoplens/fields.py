"""Building dataclasses from JSON-like dicts with a clear error for unknown keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def reject_unknown_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming the keys of `data` that are not fields of the dataclass `cls`."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known keys: {', '.join(known)}")
