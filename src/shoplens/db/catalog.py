"""The catalogue's tables: taxonomies, merchants, products, images (with their colours and attributes), embeddings,
ingestion jobs, idempotency keys.

Alembic migrations in `shoplens/db/migrations` create exactly these; a test checks they agree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shoplens.db.base import Base, Vector, utcnow

PRODUCT_STATUSES = ("active", "draft", "archived")
JOB_STATUSES = ("running", "done", "interrupted")
ROW_STATUSES = ("done", "skipped", "failed")


class Taxonomy(Base):
    """A named list of categories (the ten Fashion-MNIST classes by default)."""

    __tablename__ = "taxonomies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    categories: Mapped[list[Category]] = relationship(
        back_populates="taxonomy", order_by="Category.position", cascade="all, delete-orphan"
    )


class Category(Base):
    """One category of a taxonomy, in display order."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("taxonomy_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taxonomy_id: Mapped[int] = mapped_column(ForeignKey("taxonomies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    taxonomy: Mapped[Taxonomy] = relationship(back_populates="categories")


class Merchant(Base):
    """A seller; its API keys may change only its own products."""

    __tablename__ = "merchants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Product(Base):
    """A listing: what the merchant declares, plus its images (and what the model saw in them)."""

    __tablename__ = "products"
    # a deleted product's id is never given to another (SQLite reused the newest one's; migration 0008)
    __table_args__ = (UniqueConstraint("merchant_id", "sku"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    brand: Mapped[str | None] = mapped_column(String(100))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    declared_category: Mapped[str | None] = mapped_column(String(64), index=True)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        order_by="ProductImage.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ProductImage(Base):
    """One stored image of a product: its content id, hashes, quality, prediction and duplicate group."""

    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "sha256"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[int] = mapped_column(BigInteger, index=True)  # perceptual hash of `view` (signed 64-bit)
    view: Mapped[bytes] = mapped_column(
        LargeBinary
    )  # canonical view: border trimmed, 32×32 grey, for duplicates
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    quality_flags: Mapped[str] = mapped_column(String(100), default="")  # comma-separated, "" when fine
    sharpness: Mapped[float] = mapped_column(Float)
    brightness: Mapped[float] = mapped_column(Float)
    faces_blurred: Mapped[int] = mapped_column(Integer, default=0)
    predicted_category: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(128))
    mismatch: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # The model's calibrated probability of each category ({category: p}), so that a new declared category can
    # be judged by the mismatch rule without running the model again (None: recorded before they were kept).
    probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON)
    duplicate_group: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(16), default="merchant")  # merchant | shopper
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    product: Mapped[Product] = relationship(back_populates="images")
    # Loaded with the image (one query per list of images): every rendering of an image shows them.
    colours: Mapped[list[ImageColour]] = relationship(
        order_by="ImageColour.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    attributes: Mapped[list[ImageAttribute]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class ImageColour(Base):
    """A dominant colour of the product in an image: palette name, measured hex, share of the product's pixels."""

    __tablename__ = "image_colours"
    image_id: Mapped[int] = mapped_column(
        ForeignKey("product_images.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)  # 0: the largest share
    hex: Mapped[str] = mapped_column(String(7))
    share: Mapped[float] = mapped_column(Float)


class ImageAttribute(Base):
    """An attribute value an image–text backbone sees in an image (e.g. pattern: striped) and its score."""

    __tablename__ = "image_attributes"
    __table_args__ = (Index("ix_image_attributes_attribute_value", "attribute", "value"),)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("product_images.id", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))


class Embedding(Base):
    """An image's embedding from one model version (the vector index of that version is built from these)."""

    __tablename__ = "embeddings"
    image_id: Mapped[int] = mapped_column(
        ForeignKey("product_images.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(128), primary_key=True)
    vector: Mapped[np.ndarray] = mapped_column(Vector)  # L2-normalised search vector


class IngestJob(Base):
    """A bulk ingestion; the same source re-run resumes the same job."""

    __tablename__ = "ingest_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # folder | csv | urls
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running")
    runs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IngestRow(Base):
    """What happened to one row of a job (done, skipped or failed with a reason)."""

    __tablename__ = "ingest_rows"
    __table_args__ = (UniqueConstraint("job_id", "row_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="CASCADE"), index=True)
    row_key: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class IdempotencyRecord(Base):
    """The answer given to a request with an Idempotency-Key, replayed when the same key comes again."""

    __tablename__ = "idempotency_keys"
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
