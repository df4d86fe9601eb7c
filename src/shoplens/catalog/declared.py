"""What a merchant declares about a product, and the checks it must pass before the catalogue stores it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from shoplens.catalog.queries import check_category
from shoplens.errors import CatalogInputError
from shoplens.fields import MAX_INT, check_text

MAX_PRICE = Decimal(10) ** 10  # products.price is NUMERIC(12, 2)
CENT = Decimal("0.01")

TEXT_LIMITS = {"merchant": 64, "sku": 100, "title": 300, "brand": 100, "category": 64}  # the columns' widths


@dataclass(frozen=True)
class ProductIn:
    """What a merchant declares about a product."""

    merchant: str
    sku: str
    title: str
    brand: str | None = None
    price: Decimal | None = None
    category: str | None = None
    stock: int = 0
    status: str = "active"

    def __post_init__(self) -> None:
        """ValueError for a text the catalogue cannot hold (too long for its column, a NUL character)."""
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                check_text(value, name, limit)


def check_product(p: ProductIn, categories: Sequence[str] | None = None) -> None:
    """Raise CatalogInputError for a product that cannot be stored as declared."""
    if categories is not None:
        check_category(p.category, categories)
    if not p.merchant.strip() or not p.sku.strip():
        raise CatalogInputError("merchant and sku are required")
    if not p.title.strip():
        raise CatalogInputError("title is required")
    if p.price is not None and p.price < 0:
        raise CatalogInputError("price cannot be negative")
    if p.price is not None and (p.price >= MAX_PRICE or p.price != p.price.quantize(CENT)):
        raise CatalogInputError(
            f"price {p.price} does not fit: below {MAX_PRICE:,}, at most 2 decimal places"
        )
    if p.stock < 0:
        raise CatalogInputError("stock cannot be negative")
    if p.stock > MAX_INT:
        raise CatalogInputError(f"stock {p.stock} is more than {MAX_INT:,}")
