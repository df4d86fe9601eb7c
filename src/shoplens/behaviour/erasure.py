"""Erasing a shopper (every row keyed by their user id, in every table with a `user_id` column; a tombstone) and
expiring cached profiles and recommendations.

That covers events (ad impressions and clicks included), cached profiles and recommendations, and any table a
later part adds with a `user_id` column — no list to keep up to date. Aggregates that hold no user id (ad
statistics per segment, the in-memory co-visitation snapshot) are not personal data; the API still drops its
snapshot after an erasure so nothing derived from the erased events is served again.

The tombstone (`erased_shoppers`) holds a one-way digest of each erased key, never the key: events sent later
for an erased shopper are refused, and nothing is cached under their key again. Whatever writes rows of a shopper
first takes `erasure_guard` and then checks the tombstone, in one transaction, so a write racing an erasure either
lands before it (and is erased) or sees the tombstone. SQLite keeps deleted rows in its write-ahead log until a
checkpoint, so erasure ends with one (`checkpoint`), and rewrites the whole file on request (`vacuum`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, delete, false, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.availability import DatabaseUnavailableError
from shoplens.db.base import Base, utcnow
from shoplens.db.behaviour import CachedRecommendation, ErasedShopper, UserProfile
from shoplens.db.engine import checkpoint

TOMBSTONE_SALT = b"shoplens-erased\0"  # digests of keys differ from any key stored elsewhere
ERASURE_LOCK = (
    0x53484F504C454E53  # PostgreSQL advisory lock: shared by writers of shopper rows, exclusive to erasure
)


def user_tables() -> list[Table]:
    """The tables that hold a user id (a `user_id` column), children before parents."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "user_id" in t.c]


def tombstone(key: str) -> str:
    """What the tombstone table stores for an erased user key: a salted SHA-256 digest (hex), not the key."""
    return hashlib.sha256(TOMBSTONE_SALT + key.encode()).hexdigest()


def erased(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these user keys belong to erased shoppers."""
    digests = {tombstone(k): k for k in set(keys)}
    if not digests:
        return set()
    found = session.scalars(select(ErasedShopper.digest).where(ErasedShopper.digest.in_(digests)))
    return {digests[d] for d in found}


def erasure_guard(session: Session, exclusive: bool = False) -> None:
    """Serialise this transaction with erasures: writers of shopper rows share it, an erasure holds it alone.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a no-op write, which takes the one write lock now.
    """
    if session.get_bind().dialect.name == "postgresql":
        kind = "" if exclusive else "_shared"
        session.execute(text(f"SELECT pg_advisory_xact_lock{kind}(:id)"), {"id": ERASURE_LOCK})
    else:
        session.execute(update(ErasedShopper).where(false()).values(digest=ErasedShopper.digest))


def store_unless_erased(
    sessions: sessionmaker[Session], row: Base, expire: tuple[datetime, float] | None = None
) -> bool:
    """Store (or replace) a cached row of a shopper (its `user_id`) unless they were erased; whether it was stored.

    With expire (now, ttl_s), cached rows older than the TTL are deleted in the same transaction.
    """
    table = type(row)
    key = [getattr(row, c.key) for c in inspect(table).primary_key]
    try:
        with sessions.begin() as session:
            erasure_guard(session)
            if expire is not None:
                _expire(session, *expire)
            if erased(session, [row.user_id]):  # type: ignore[attr-defined]
                return False
            session.execute(delete(table).where(*(c == v for c, v in zip(inspect(table).primary_key, key))))
            session.add(row)
    except IntegrityError:  # a concurrent request stored it first
        return False
    except DatabaseUnavailableError:  # a cache that cannot be kept now (read-only, stopped) is not an error
        return False
    return True


def _expire(session: Session, now: datetime, ttl_s: float) -> int:
    """Delete cached profiles and recommendations older than ttl_s; how many."""
    cutoff = now - timedelta(seconds=ttl_s)
    old = [
        session.execute(delete(UserProfile).where(UserProfile.updated_at < cutoff)),
        session.execute(delete(CachedRecommendation).where(CachedRecommendation.created_at < cutoff)),
    ]
    return sum(int(r.rowcount or 0) for r in old)  # type: ignore[attr-defined]


def expire_cached(sessions: sessionmaker[Session], now: datetime, ttl_s: float) -> int:
    """Delete cached profiles and recommendations older than ttl_s (they are recomputed when asked for); how many."""
    with sessions.begin() as session:
        return _expire(session, now, ttl_s)


def erase_user(sessions: sessionmaker[Session], keys: Iterable[str]) -> dict[str, int]:
    """Delete every row of these user keys and leave their tombstones, in one transaction; rows deleted per table
    (0s when none: idempotent)."""
    keys = sorted(set(keys))
    deleted: dict[str, int] = {}
    with sessions.begin() as session:
        erasure_guard(session, exclusive=True)
        known = erased(session, keys)
        session.add_all(
            ErasedShopper(digest=tombstone(k), erased_at=utcnow()) for k in keys if k not in known
        )
        for table in user_tables():
            result = session.execute(delete(table).where(table.c.user_id.in_(keys)))
            deleted[table.name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted


def erase_shopper(
    sessions: sessionmaker[Session], engine: Engine, keys: Iterable[str], vacuum: bool = False
) -> dict[str, int]:
    """`erase_user`, then SQLite's WAL emptied (and the file rewritten with vacuum); rows deleted per table."""
    deleted = erase_user(sessions, keys)
    checkpoint(engine, vacuum)
    return deleted
