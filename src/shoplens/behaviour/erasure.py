"""Erasing a shopper: every row keyed by their user id, in every table that has a `user_id` column.

That covers events (ad impressions and clicks included), cached profiles and recommendations, and any table a
later part adds with a `user_id` column — no list to keep up to date. Aggregates that hold no user id (ad
statistics per segment, the in-memory co-visitation snapshot) are not personal data; the API still drops its
snapshot after an erasure so nothing derived from the erased events is served again.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.base import Base


def user_tables() -> list[Table]:
    """The tables that hold a user id (a `user_id` column), children before parents."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "user_id" in t.c]


def erase_user(sessions: sessionmaker[Session], keys: Iterable[str]) -> dict[str, int]:
    """Delete every row of these user keys in one transaction; rows deleted per table (0s when none: idempotent)."""
    keys = sorted(set(keys))
    deleted: dict[str, int] = {}
    with sessions.begin() as session:
        for table in user_tables():
            result = session.execute(delete(table).where(table.c.user_id.in_(keys)))
            deleted[table.name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted
