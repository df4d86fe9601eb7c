"""Field rules shared by every room: dataclasses from JSON-like dicts, the largest integer a row holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

MAX_INT = 2**31 - 1  # the largest value an Integer column holds on every backend (PostgreSQL int4)


def reject_unknown_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming the keys of `data` that are not fields of the dataclass `cls`."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known keys: {', '.join(known)}")


def check_text(value: str, what: str, max_length: int | None = None) -> None:
    """ValueError when a text holds a NUL character (PostgreSQL cannot store one), a lone surrogate (no UTF-8
    can hold one; JSON's "\\ud800" makes one) or is longer than max_length."""
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} contains a lone surrogate (not a Unicode character)") from None
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{what} is longer than {max_length} characters")
