"""Reading and changing products: named queries (a product's category, search vector, first image), filtered
lists, duplicates, merchants, the QA summary, updates, the taxonomy.

A product's category is the one its merchant declared, else the model's prediction for its first image: the
declaration is authoritative (the merchant can correct it), the model fills the gap when nothing was declared.
A product's search vector is the embedding of its first image under a model version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from sqlalchemy import Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from shoplens.catalog.colours import attribute_condition, check_choices, colour_condition
from shoplens.catalog.recognise import MismatchConfig, disagrees
from shoplens.db.ads import Creative
from shoplens.db.base import upsert, utcnow
from shoplens.db.catalog import (
    PRODUCT_STATUSES,
    Category,
    Embedding,
    Merchant,
    Product,
    ProductImage,
    Taxonomy,
)
from shoplens.db.engine import FOLD
from shoplens.errors import CatalogInputError, ForbiddenError, NotFoundError

Flag = Literal["mismatch", "duplicate", "low_quality", "not_a_product"]
FLAGS: tuple[str, ...] = ("mismatch", "duplicate", "low_quality", "not_a_product")
NOT_A_PRODUCT = "not_a_product"  # the image flag of photos the model does not recognise as a product
UPDATABLE = ("title", "brand", "price", "category", "stock", "status")
MAX_CATEGORY = 64  # characters of a category name (categories.name)


@dataclass(frozen=True)
class Scope:
    """Which products a list or a search may return: declared category, merchant, statuses (any of them; none:
    every status), only those in stock."""

    category: str | None = None
    merchant: str | None = None
    statuses: tuple[str, ...] = ()
    in_stock: bool = False

    def conditions(self) -> list[Any]:
        """SQL conditions on Product, one per filter given."""
        out: list[Any] = []
        if self.category:
            out.append(Product.declared_category == self.category)
        if self.merchant:
            out.append(Product.merchant_id == self.merchant)
        if self.statuses:
            out.append(Product.status.in_(self.statuses))
        if self.in_stock:
            out.append(Product.stock > 0)
        return out


def check_statuses(names: Iterable[str]) -> tuple[str, ...]:
    """Product statuses as given (lowercased, comma lists split); CatalogInputError naming the statuses otherwise."""
    return check_choices(names, PRODUCT_STATUSES, "status", "statuses")


@dataclass(frozen=True)
class ProductFilter:
    """Which products to list: the scope's filters, a flag, text on title/brand, colours (any of them), attribute
    values (of each attribute named, any value given); one page of them."""

    category: str | None = None
    merchant: str | None = None
    flag: Flag | None = None
    q: str | None = None
    limit: int = 50
    offset: int = 0
    before_id: int | None = None  # keyset paging: only products older than this one
    colours: tuple[str, ...] = ()  # palette names (catalog.colours.check_colours)
    # (attribute, value) pairs (catalog.colours.parse_attributes)
    attributes: tuple[tuple[str, str], ...] = ()
    statuses: tuple[str, ...] = ()  # check_statuses
    in_stock: bool = False

    @property
    def scope(self) -> Scope:
        """The filters it shares with the searches."""
        return Scope(self.category, self.merchant, self.statuses, self.in_stock)


def _of_first_image(column: str) -> Any:
    """Scalar subquery: a column of a product's first image (correlated to Product only)."""
    img = aliased(ProductImage)
    return (
        select(getattr(img, column))
        .where(img.product_id == Product.id)
        .order_by(img.position, img.id)
        .limit(1)
        .correlate(Product)
        .scalar_subquery()
    )


def first_image_category() -> Any:
    """Scalar subquery: the predicted category of a product's first image (correlated to Product only)."""
    return _of_first_image("predicted_category")


def first_image_sha256() -> Any:
    """Scalar subquery: the content id of a product's first image (correlated to Product only)."""
    return _of_first_image("sha256")


def product_category() -> Any:
    """A product's category: declared, else predicted from its first image (use with Product in the FROM)."""
    return func.coalesce(Product.declared_category, first_image_category())


# Built once: constructing a statement costs more than running it on the hot paths (values go in as parameters).
PRODUCT_CATEGORY = product_category()
_VECTORS = (
    select(ProductImage.product_id, Embedding.vector)
    .join(Embedding, Embedding.image_id == ProductImage.id)
    .where(Embedding.model_version == bindparam("version"))
    .order_by(ProductImage.product_id, ProductImage.position.desc(), ProductImage.id.desc())
)
_VECTORS_OF = _VECTORS.where(ProductImage.product_id.in_(bindparam("ids", expanding=True)))


def product_vectors(
    session: Session, version: str, product_ids: Iterable[int] | None = None
) -> dict[int, np.ndarray]:
    """The search vector under `version` of each product given (all without ids); those without one left out."""
    if product_ids is None:
        rows = session.connection().execute(_VECTORS, {"version": version})
    else:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        rows = session.connection().execute(_VECTORS_OF, {"ids": ids, "version": version})
    return dict(rows.all())  # ordered so that each product's first image comes last and wins


def product_vector(session: Session, product_id: int, version: str) -> np.ndarray:
    """A product's search vector under `version`; NotFoundError when it has none."""
    vector = product_vectors(session, version, [product_id]).get(product_id)
    if vector is None:
        raise NotFoundError(f"no product {product_id} with an indexed image")
    return vector


def flag_condition(flag: str) -> Any:
    """SQL condition: the product has an image with this flag."""
    img = ProductImage
    cond = {
        "mismatch": img.mismatch.is_(True),
        "duplicate": img.duplicate_group.is_not(None),
        "low_quality": and_(img.quality_flags != "", img.quality_flags != NOT_A_PRODUCT),
        "not_a_product": img.quality_flags.contains(NOT_A_PRODUCT),
    }[flag]
    return exists().where(and_(img.product_id == Product.id, cond))


def _filtered(f: ProductFilter, dialect: str) -> Select[tuple[Product]]:
    """The select for a filter on a database of that dialect, unordered and unpaged."""
    stmt = select(Product).where(*f.scope.conditions())
    if f.flag:
        stmt = stmt.where(flag_condition(f.flag))
    if f.colours:
        stmt = stmt.where(colour_condition(f.colours))
    if f.attributes:
        stmt = stmt.where(attribute_condition(f.attributes))
    if f.q:
        escaped = f.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"  # the query's own % and _ match themselves
        lower = getattr(func, FOLD) if dialect == "sqlite" else func.lower  # SQLite's lower(): ASCII only
        stmt = stmt.where(
            or_(lower(Product.title).like(like, escape="\\"), lower(Product.brand).like(like, escape="\\"))
        )
    return stmt


def list_products(session: Session, f: ProductFilter) -> tuple[int, list[Product]]:
    """The total matching the filter (before_id aside) and the requested page (newest first), images loaded."""
    stmt = _filtered(f, session.get_bind().dialect.name)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if f.before_id is not None:
        stmt = stmt.where(Product.id < f.before_id)
    page = session.scalars(
        stmt.options(selectinload(Product.images)).order_by(Product.id.desc()).limit(f.limit).offset(f.offset)
    ).all()
    return total, list(page)


def get_product(session: Session, product_id: int) -> Product:
    """A product with its images; NotFoundError when there is none."""
    product = session.get(Product, product_id, options=[selectinload(Product.images)])
    if product is None:
        raise NotFoundError(f"no product {product_id}")
    return product


def check_owner(product: Product, merchant: str | None) -> None:
    """ForbiddenError unless `merchant` is None (admin) or owns the product."""
    if merchant is not None and product.merchant_id != merchant:
        raise ForbiddenError(f"product {product.id} belongs to another merchant")


def update_product(
    session: Session,
    product: Product,
    changes: dict[str, Any],
    categories: list[str],
    mismatch: MismatchConfig | None = None,
) -> Product:
    """Apply declared-field changes; a new category re-evaluates the mismatch flag of each image."""
    for key, value in changes.items():
        if key not in UPDATABLE:
            raise CatalogInputError(f"{key!r} cannot be changed; fields: {', '.join(UPDATABLE)}")
        if key == "category":
            check_category(value, categories)
            product.declared_category = value
            judge_declared(product, mismatch or MismatchConfig())
        elif key == "price":
            product.price = None if value is None else Decimal(str(value))
        elif key == "title" and not (value or "").strip():
            raise CatalogInputError("title is required")  # as on create
        else:
            setattr(product, key, value)
    return product


def check_category(category: str | None, categories: Sequence[str]) -> None:
    """CatalogInputError naming the taxonomy's categories when a category (None: none) is not one of them."""
    if category is not None and category not in categories:
        raise CatalogInputError(f"unknown category {category!r}; categories: {', '.join(categories)}")


def judge_declared(product: Product, cfg: MismatchConfig) -> None:
    """Set each image's mismatch flag for the product's declared category, from the probabilities the model gave
    it; an image recorded before they were kept can only lose its flag (when it now agrees)."""
    declared = product.declared_category
    for img in product.images:
        if img.probabilities is not None:
            img.mismatch = disagrees(img.probabilities, declared, cfg)
        else:
            img.mismatch = img.mismatch and declared is not None and img.predicted_category != declared


def duplicates_of(session: Session, product: Product) -> list[tuple[ProductImage, ProductImage, Product]]:
    """(this product's image, the duplicate image, its product) for every image grouped with this product's."""
    mine = [img for img in product.images if img.duplicate_group is not None]
    if not mine:
        return []
    other = aliased(ProductImage)
    rows = session.execute(
        select(other, Product)
        .join(Product, Product.id == other.product_id)
        .where(
            other.duplicate_group.in_({img.duplicate_group for img in mine}), other.product_id != product.id
        )
        .order_by(other.id)
    ).all()
    by_group = {img.duplicate_group: img for img in mine}
    return [(by_group[o.duplicate_group], o, p) for o, p in rows]


@dataclass(frozen=True)
class MerchantSummary:
    """A merchant and how many products it lists."""

    id: str
    name: str
    products: int


def list_merchants(session: Session) -> list[MerchantSummary]:
    """Every merchant with its product count, by id."""
    rows = session.execute(
        select(Merchant.id, Merchant.name, func.count(Product.id))
        .outerjoin(Product, Product.merchant_id == Merchant.id)
        .group_by(Merchant.id, Merchant.name)
        .order_by(Merchant.id)
    )
    return [MerchantSummary(i, n, c) for i, n, c in rows]


def count_images(session: Session) -> int:
    """How many product images the catalogue holds."""
    return session.scalar(select(func.count(ProductImage.id))) or 0


def referenced_images(session: Session) -> set[str]:
    """Content ids some row refers to (product images and ad creatives); anything else stored is an orphan."""
    return set(session.scalars(select(ProductImage.sha256).union(select(Creative.sha256))))


def image_referenced(session: Session, sha256: str) -> bool:
    """Whether a product image or an ad creative still refers to this content id (else it is not served)."""
    return bool(
        session.scalar(
            select(exists().where(ProductImage.sha256 == sha256) | exists().where(Creative.sha256 == sha256))
        )
    )


def ensure_merchants(session: Session, ids: Iterable[str]) -> None:
    """Create the merchants that do not exist yet (one a concurrent transaction creates is left alone)."""
    rows = [{"id": m, "name": m, "created_at": utcnow()} for m in sorted(set(ids))]
    if not rows:
        return
    session.execute(upsert(session)(Merchant).values(rows).on_conflict_do_nothing(index_elements=["id"]))


def ensure_taxonomy(session: Session, name: str, categories: Sequence[str]) -> Taxonomy:
    """The taxonomy of this name, created with these categories when it does not exist yet."""
    tax = session.scalar(select(Taxonomy).where(Taxonomy.name == name))
    if tax is None:
        twice = sorted({c for c in categories if list(categories).count(c) > 1})
        if twice:
            raise CatalogInputError(
                f"a taxonomy names each category once: {', '.join(map(repr, twice))} twice"
            )
        bad = [c for c in categories if not c.strip() or len(c) > MAX_CATEGORY]
        if bad:
            raise CatalogInputError(f"category names are 1 to {MAX_CATEGORY} characters, not {bad[0]!r}")
        tax = Taxonomy(name=name, categories=[Category(name=c, position=i) for i, c in enumerate(categories)])
        session.add(tax)
        session.flush()
    return tax


def qa_summary(session: Session, limit: int = 20) -> dict[str, Any]:
    """Counts of products per flag, and the first `limit` flagged products of each."""
    out: dict[str, Any] = {"products": session.scalar(select(func.count(Product.id))) or 0, "flags": {}}
    for flag in FLAGS:
        stmt = select(Product).where(flag_condition(flag))
        count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        items = session.scalars(
            stmt.options(selectinload(Product.images)).order_by(Product.id).limit(limit)
        ).all()
        out["flags"][flag] = {"count": count, "items": list(items)}
    groups = session.scalar(
        select(func.count(func.distinct(ProductImage.duplicate_group))).where(
            ProductImage.duplicate_group.is_not(None)
        )
    )
    out["duplicate_groups"] = groups or 0
    return out
