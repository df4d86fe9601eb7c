"""Request and response shapes of the behaviour routes: events, profiles, recommendations, trends, erasure."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shoplens.api.schemas import Timestamp
from shoplens.behaviour.events import MAX_BATCH
from shoplens.fields import MAX_INT


class EventCreate(BaseModel):
    """One shopper event. Its values are checked one event at a time: a bad one is rejected, the rest kept."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(description="The sender's unique id: an id sent again is ignored (idempotent).")
    user_id: str = Field(
        description="The shopper (pseudonymised on the way in when the service has a secret)."
    )
    type: str = Field(description="view, click, add_to_cart, purchase, ad_impression or ad_click.")
    timestamp: str | None = Field(
        None,
        description="Required: ISO 8601; without a zone it is UTC; at most 5 minutes ahead (else that event alone "
        "is rejected).",
    )
    product_id: int | None = Field(
        None,
        strict=True,
        description=f"Required for view, click, add_to_cart and purchase; 1 to {MAX_INT} (else that event alone "
        "is rejected).",
    )
    ad_id: int | None = Field(
        None,
        strict=True,
        description=f"The creative; required for ad_impression and ad_click; 1 to {MAX_INT} (else that event "
        "alone is rejected).",
    )
    session_id: str | None = Field(
        None, description="Groups events for 'viewed together' (default: the user's day)."
    )
    impression_token: str | None = Field(
        None,
        max_length=300,
        description="An ad_click: the token /v1/ads/select gave with the ad; without a valid one the click is "
        "recorded but neither counted for the creative's ranking nor charged.",
    )


class EventBatch(BaseModel):
    """A batch of events."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventCreate] = Field(min_length=1, description=f"At most {MAX_BATCH} events.")


class EventResultPublic(BaseModel):
    """What became of one event: accepted (201), duplicate (200, ignored) or rejected (422) with the reason."""

    event_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    code: int
    reason: str | None = None


class EventBatchResult(BaseModel):
    """Counts, and one result per event in the order sent."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResultPublic]


class CategoryShare(BaseModel):
    """A category and its share of the shopper's decayed event weight."""

    category: str
    weight: float


class ProfilePublic(BaseModel):
    """A shopper's profile: top categories, all affinities, recent products, visual taste vector."""

    user_id: str
    events: int
    model_version: str | None
    updated_at: Timestamp
    top_categories: list[CategoryShare]
    affinity: dict[str, float]
    recent: list[int] = Field(description="Product ids, newest first.")
    taste: list[float] | None = Field(
        description="L2-normalised weighted mean embedding (None without embeddings)."
    )


class RecommendationPublic(BaseModel):
    """A recommended product and why it is there."""

    product_id: int
    title: str
    category: str | None
    price: float | None
    image_url: str | None
    score: float
    source: Literal["visual", "covis", "category", "trending"]
    reason: str


class RecommendationsPublic(BaseModel):
    """Recommendations for a shopper, best first."""

    user_id: str
    k: int
    cold_start: bool = Field(description="True when the shopper has no history: trending products instead.")
    cached: bool
    model_version: str | None
    generated_at: Timestamp
    items: list[RecommendationPublic]


class RelatedPublic(BaseModel):
    """Products related to a product: visually similar and viewed together."""

    product_id: int
    items: list[RecommendationPublic]


class TrendRowPublic(BaseModel):
    """The counts of one category on one UTC day."""

    day: date
    category: str
    uploads: int
    views: int
    carts: int
    purchases: int


class TrendsPublic(BaseModel):
    """Per category per day counts between start and end (days without activity left out)."""

    start: date
    end: date
    rows: list[TrendRowPublic]


class ErasurePublic(BaseModel):
    """What was deleted of a shopper, rows per table (all 0 when nothing was left)."""

    user_id: str
    deleted: dict[str, int]
