"""Request and response shapes of the catalogue, search and QA routes."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shoplens.api.schemas import NOT_NULL, AttributeScorePublic, ColourPublic, TextIn, Timestamp
from shoplens.catalog.declared import TEXT_LIMITS
from shoplens.catalog.queries import NOT_A_PRODUCT
from shoplens.catalog.similar import Found
from shoplens.catalog.textsearch import TextFound
from shoplens.db.catalog import PRODUCT_STATUSES, Product, ProductImage
from shoplens.fields import MAX_INT

Status = Literal["active", "draft", "archived"]
assert set(PRODUCT_STATUSES) == {"active", "draft", "archived"}


class ProductCreate(TextIn):
    """A product as a merchant declares it (sent as the JSON form field `product`, images in `files`)."""

    model_config = ConfigDict(extra="forbid")
    merchant: str | None = Field(
        None, max_length=TEXT_LIMITS["merchant"], description="Defaults to the merchant of a merchant key."
    )
    sku: str = Field(min_length=1, max_length=TEXT_LIMITS["sku"])
    title: str = Field(min_length=1, max_length=TEXT_LIMITS["title"])
    brand: str | None = Field(None, max_length=TEXT_LIMITS["brand"])
    price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    category: str | None = Field(
        None, max_length=TEXT_LIMITS["category"], description="The declared category (one of the taxonomy's)."
    )
    stock: int = Field(0, ge=0, le=MAX_INT)
    status: Status = "active"
    shopper_upload: bool = Field(False, description="A shopper's photo (faces are blurred by default).")


class ProductUpdate(TextIn):
    """Fields a merchant may change; only those sent are changed (brand and category may be cleared with null)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(None, min_length=1, max_length=TEXT_LIMITS["title"], **NOT_NULL)  # type: ignore[assignment]
    brand: str | None = Field(None, max_length=TEXT_LIMITS["brand"])
    price: Decimal = Field(None, ge=0, max_digits=12, decimal_places=2, **NOT_NULL)  # type: ignore[assignment]
    category: str | None = Field(None, max_length=TEXT_LIMITS["category"])
    stock: int = Field(None, ge=0, le=MAX_INT, **NOT_NULL)  # type: ignore[assignment]
    status: Status = Field(None, **NOT_NULL)  # type: ignore[assignment]


class ImagePublic(BaseModel):
    """A stored image (re-encoded, metadata-free) and what was learned from it."""

    id: int
    sha256: str
    url: str
    thumbnail_url: str
    width: int
    height: int
    quality_flags: list[str]
    predicted_category: str | None
    confidence: float | None
    model_version: str | None
    mismatch: bool
    duplicate_group: int | None
    faces_blurred: int
    colours: list[ColourPublic] = Field(
        description="The product's dominant colours here, largest share first."
    )
    attributes: dict[str, list[AttributeScorePublic]] = Field(
        description="What an image–text backbone's attribute prompts see here, per attribute, best first "
        "(empty for other models)."
    )


class ProductPublic(BaseModel):
    """A product with its images and its flags (mismatch, duplicate, low_quality)."""

    id: int
    merchant: str
    sku: str
    title: str
    brand: str | None
    price: float | None
    category: str | None
    predicted_category: str | None
    stock: int
    status: str
    flags: list[str]
    images: list[ImagePublic]
    created_at: Timestamp
    updated_at: Timestamp


class ProductPage(BaseModel):
    """One page of a filtered product list."""

    total: int = Field(description="Products matching the filters (all pages).")
    limit: int
    offset: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")
    items: list[ProductPublic]


class DuplicatePublic(BaseModel):
    """Another product showing a near-duplicate of one of this product's images."""

    image_id: int
    duplicate_image_id: int
    group: int
    product: ProductPublic


class SimilarHit(BaseModel):
    """A similar product, how similar, and the image of it that matched."""

    similarity: float = Field(description="Cosine of the query and the matched image.")
    score: float = Field(
        description="What results are ranked by: the cosine, or with colour_weight w, "
        "(1 − w) · cosine + w · colour_similarity."
    )
    colour_similarity: float | None = Field(
        None, description="How alike the query's and the image's colours are, 0..1 (with colour_weight > 0)."
    )
    product: ProductPublic
    image: ImagePublic


class SimilarPublic(BaseModel):
    """Search-by-image results, best first, with the model version whose embeddings answered."""

    model_version: str
    results: list[SimilarHit]
    reason: str | None = Field(None, description="Why there are no results, when the photo was refused.")


class TextSearchHit(BaseModel):
    """A product found by words: fused score, its rank by title/brand and by image, the image shown."""

    score: float = Field(description="Reciprocal-rank fusion: Σ 1/(60 + rank) over the lists it is in.")
    text_rank: int | None = Field(description="Rank by full text over title and brand (None: not matched).")
    image_rank: int | None = Field(description="Rank by text-to-image similarity (None: not matched).")
    similarity: float | None = Field(description="Cosine of the query and the matched image.")
    product: ProductPublic
    image: ImagePublic | None


class TextSearchPublic(BaseModel):
    """Text search results, best first; model_version is null when only full text answered (no backbone)."""

    model_version: str | None
    results: list[TextSearchHit]


class PaletteColourPublic(BaseModel):
    """A colour name products can be filtered by, and a typical shade of it."""

    name: str
    hex: str


class QaFlagPublic(BaseModel):
    """How many products carry a flag and the first ones."""

    count: int
    items: list[ProductPublic]


class QaPublic(BaseModel):
    """The catalogue's quality picture: counts and lists of flagged products."""

    products: int
    duplicate_groups: int
    flags: dict[str, QaFlagPublic]


def image_public(img: ProductImage) -> ImagePublic:
    """The public form of a stored image."""
    return ImagePublic(
        id=img.id,
        sha256=img.sha256,
        url=f"/v1/images/{img.sha256}",
        thumbnail_url=f"/v1/images/{img.sha256}?variant=thumb",
        width=img.width,
        height=img.height,
        quality_flags=[f for f in img.quality_flags.split(",") if f],
        predicted_category=img.predicted_category,
        confidence=img.confidence,
        model_version=img.model_version,
        mismatch=img.mismatch,
        duplicate_group=img.duplicate_group,
        faces_blurred=img.faces_blurred,
        colours=[ColourPublic(name=c.name, hex=c.hex, share=c.share) for c in img.colours],
        attributes=image_attributes(img),
    )


def image_attributes(img: ProductImage) -> dict[str, list[AttributeScorePublic]]:
    """An image's stored attribute values, per attribute, best first."""
    out: dict[str, list[AttributeScorePublic]] = {}
    for a in sorted(img.attributes, key=lambda a: (a.attribute, -a.score)):
        out.setdefault(a.attribute, []).append(AttributeScorePublic(value=a.value, score=a.score))
    return out


def product_flags(p: Product) -> list[str]:
    """The product's flags, from its images."""
    flags = []
    if any(i.mismatch for i in p.images):
        flags.append("mismatch")
    if any(i.duplicate_group is not None for i in p.images):
        flags.append("duplicate")
    image_flags = [set(filter(None, i.quality_flags.split(","))) for i in p.images]
    if any(f - {NOT_A_PRODUCT} for f in image_flags):
        flags.append("low_quality")
    if any(NOT_A_PRODUCT in f for f in image_flags):
        flags.append(NOT_A_PRODUCT)
    return flags


def product_public(p: Product) -> ProductPublic:
    """The public form of a product (its images loaded)."""
    return ProductPublic(
        id=p.id,
        merchant=p.merchant_id,
        sku=p.sku,
        title=p.title,
        brand=p.brand,
        price=float(p.price) if p.price is not None else None,
        category=p.declared_category,
        predicted_category=p.images[0].predicted_category if p.images else None,
        stock=p.stock,
        status=p.status,
        flags=product_flags(p),
        images=[image_public(i) for i in p.images],
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def similar_public(found: Found) -> SimilarPublic:
    """Products found by image, as the API shows them."""
    return SimilarPublic(
        model_version=found.model_version,
        reason=found.reason,
        results=[
            SimilarHit(
                similarity=round(h.similarity, 6),
                score=round(h.score, 6),
                colour_similarity=None if h.colour_similarity is None else round(h.colour_similarity, 6),
                product=product_public(h.product),
                image=image_public(h.image),
            )
            for h in found.hits
        ],
    )


def text_search_public(found: TextFound) -> TextSearchPublic:
    """Products found by words, as the API shows them."""
    return TextSearchPublic(
        model_version=found.model_version,
        results=[
            TextSearchHit(
                score=round(h.score, 8),
                text_rank=h.text_rank,
                image_rank=h.image_rank,
                similarity=h.similarity,
                product=product_public(h.product),
                image=image_public(h.image) if h.image is not None else None,
            )
            for h in found.hits
        ],
    )
