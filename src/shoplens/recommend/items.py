"""What a recommendation shows: the recommended product's facts (read fresh from the database) and its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shoplens.catalog.queries import PRODUCT_CATEGORY, first_image_sha256
from shoplens.db.catalog import Product


@dataclass(frozen=True)
class Recommendation:
    """A recommended product, its blended score, and why."""

    product_id: int
    title: str
    category: str | None
    price: float | None
    image_url: str | None
    score: float
    source: str
    reason: str


@dataclass(frozen=True)
class Recommendations:
    """The recommendations for a shopper, whether they are the cold-start kind, and whether they came cached."""

    user_id: str
    k: int
    items: list[Recommendation]
    cold_start: bool
    model_version: str | None
    generated_at: datetime
    cached: bool = False


@dataclass(frozen=True)
class ProductInfo:
    """What is shown of a product, read fresh from the database."""

    title: str
    category: str | None
    price: float | None
    image_url: str | None
    available: bool


PRODUCT_INFO = select(
    Product.id,
    Product.title,
    PRODUCT_CATEGORY,
    Product.price,
    Product.stock,
    Product.status,
    first_image_sha256(),
).where(Product.id.in_(bindparam("ids", expanding=True)))


def product_info(session: Session, ids: list[int]) -> dict[int, ProductInfo]:
    """Title, category, price, first image and availability of these products."""
    if not ids:
        return {}
    rows = session.connection().execute(PRODUCT_INFO, {"ids": sorted(set(ids))})
    return {
        pid: ProductInfo(
            title,
            cat,
            None if price is None else float(price),
            f"/v1/images/{sha}" if sha else None,
            stock > 0 and status == "active",
        )
        for pid, title, cat, price, stock, status, sha in rows
    }
