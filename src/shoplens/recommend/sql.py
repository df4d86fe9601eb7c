"""SQL pieces shared by profiles, recommendations and trends: a product's category, UTC days, UTC datetimes.

A product's category is the one its merchant declared, else the model's prediction for its first image: the
declaration is authoritative (the merchant can correct it), the model fills the gap when nothing was declared.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from shoplens.catalog.queries import first_image_category, product_category  # noqa: F401  (re-exported)
from shoplens.db.base import as_utc
from shoplens.db.catalog import Embedding, ProductImage

PRODUCT_EVENTS = ("view", "click", "add_to_cart", "purchase")


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


def age_days(stamps: list[datetime], now: datetime) -> np.ndarray:
    """Days between each timestamp and `now` (never negative)."""
    ref = now.timestamp()
    return np.maximum(
        (ref - np.array([as_utc(t).timestamp() for t in stamps], dtype=np.float64)) / 86400.0, 0.0
    )


def decay(ages: np.ndarray, half_life_days: float) -> np.ndarray:
    """Exponential decay factors for ages in days: 1 now, 1/2 after one half-life."""
    return np.exp2(-np.asarray(ages, dtype=np.float64) / half_life_days)


# Built once: constructing a statement costs more than running it on the hot paths (values go in as parameters).
PRODUCT_CATEGORY = product_category()
VECTORS = (
    select(ProductImage.product_id, Embedding.vector)
    .join(Embedding, Embedding.image_id == ProductImage.id)
    .where(
        ProductImage.product_id.in_(bindparam("ids", expanding=True)),
        Embedding.model_version == bindparam("version"),
    )
    .order_by(ProductImage.product_id, ProductImage.position.desc(), ProductImage.id.desc())
)


def product_vectors(session: Session, product_ids: Iterable[int], version: str) -> dict[int, np.ndarray]:
    """The embedding of each product's first image under `version` (products without one are left out)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = session.connection().execute(VECTORS, {"ids": ids, "version": version})
    return dict(rows.tuples().all())  # ordered so that the first image comes last and wins


def normalised(v: np.ndarray) -> np.ndarray | None:
    """v / |v|, or None for a zero (or empty) vector."""
    norm = float(np.linalg.norm(v)) if v.size else 0.0
    return (v / norm).astype(np.float32) if norm > 1e-12 else None
