"""What every table shares: the declarative base (fixed constraint names), UTC times, the vector column type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import ColumnElement, Dialect, LargeBinary, MetaData, func, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
VECTOR_DTYPE = np.dtype("<f4")  # how a vector is stored: float32, little-endian


class Base(DeclarativeBase):
    """Declarative base with constraint names fixed, so migrations name them the same on every database."""

    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


def upsert(session: Session):  # type: ignore[no-untyped-def]
    """The INSERT … ON CONFLICT construct of the session's database (SQLite and PostgreSQL both have one)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def as_utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime (SQLite hands back stored UTC times without a zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, on SQLite (stored as UTC text) and PostgreSQL."""
    if (
        session.get_bind().dialect.name == "postgresql"
    ):  # a literal, not a parameter: GROUP BY must match SELECT
        return func.date(func.timezone(literal_column("'UTC'"), column))
    return func.date(column)


def as_day(value: date | str) -> date:
    """A day as SQL returns it (a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class Vector(TypeDecorator[np.ndarray]):
    """A float32 vector (an embedding), stored as little-endian bytes in a binary column.

    The column stays a plain LargeBinary in the schema; only Python sees numpy arrays on both sides.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: np.ndarray | None, dialect: Dialect) -> bytes | None:
        """An array as stored."""
        return None if value is None else np.asarray(value, dtype=VECTOR_DTYPE).tobytes()

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> np.ndarray | None:
        """The stored bytes as a (writable, native) float32 array."""
        return None if value is None else np.frombuffer(value, dtype=VECTOR_DTYPE).astype(np.float32)

    def compare_values(self, x: Any, y: Any) -> bool:
        """Equal arrays are the same value (numpy's == compares element-wise)."""
        if x is None or y is None:
            return x is y
        return bool(np.array_equal(x, y))


def retried_on_conflict(sessions: sessionmaker[Session], work: Callable[[Session], T], tries: int = 3) -> T:
    """`work` in a transaction of its own, run again when a concurrent writer inserted the same unique row first.

    The next try reads what the other writer stored (a product, a job's row) and adds to it instead.
    """
    for _ in range(tries - 1):
        try:
            with sessions.begin() as session:
                return work(session)
        except IntegrityError:
            continue
    with sessions.begin() as session:  # the last try: its clash, if any, is raised
        return work(session)
