"""Request and response shapes of the ads routes: campaigns, creatives, selection, ad events, reports.

Money is Decimal on the way in (validated to the database's precision) and a float in JSON answers.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shoplens.ads.campaigns import targets
from shoplens.ads.reports import CampaignReport
from shoplens.ads.selection import AdChoice, AdSelection
from shoplens.api.schemas import NOT_NULL, TextIn, TimeIn, Timestamp
from shoplens.db.ads import Campaign, Creative

TARGETS = "Categories to show the ads for (the viewed product's or the shopper's top one); empty: anywhere."


class CampaignCreate(TextIn):
    """A new campaign; its creatives are uploaded afterwards."""

    model_config = ConfigDict(extra="forbid")
    merchant: str | None = Field(
        None,
        max_length=64,
        description="Defaults to the merchant of a merchant key; an admin key must name one.",
    )
    name: str = Field(min_length=1, max_length=200)
    budget: Decimal = Field(
        gt=0, max_digits=12, decimal_places=2, description="The most the campaign may spend."
    )
    bid: Decimal = Field(
        gt=0, max_digits=12, decimal_places=4, description="What one click costs the campaign."
    )
    target_categories: list[str] = Field(default_factory=list, max_length=50, description=TARGETS)
    starts_at: TimeIn | None = Field(None, description="Default: now. Times without a zone are UTC.")
    ends_at: TimeIn | None = Field(
        None, description="With an end date, spending is paced over the campaign's run."
    )
    status: Literal["active", "paused"] = "active"


class CampaignUpdate(TextIn):
    """Fields of a campaign that may change; only those sent are changed."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(None, min_length=1, max_length=200, **NOT_NULL)  # type: ignore[assignment]
    budget: Decimal = Field(None, gt=0, max_digits=12, decimal_places=2, **NOT_NULL)  # type: ignore[assignment]
    bid: Decimal = Field(None, gt=0, max_digits=12, decimal_places=4, **NOT_NULL)  # type: ignore[assignment]
    target_categories: list[str] | None = Field(None, max_length=50, description=TARGETS)
    status: Literal["active", "paused", "ended"] = Field(None, **NOT_NULL)  # type: ignore[assignment]
    ends_at: TimeIn | None = None


class CreativePublic(BaseModel):
    """An ad image (stored re-encoded, metadata-free) and what the model saw in it."""

    id: int
    campaign_id: int
    headline: str
    sha256: str
    url: str
    thumbnail_url: str
    predicted_category: str | None
    confidence: float | None
    model_version: str | None
    status: str
    created_at: Timestamp


class CampaignPublic(BaseModel):
    """A campaign, what it spent, and its creatives."""

    id: int
    merchant: str | None
    name: str
    budget: float
    bid: float
    spent: float
    budget_left: float
    target_categories: list[str]
    status: str
    starts_at: Timestamp
    ends_at: Timestamp | None
    created_at: Timestamp
    creatives: list[CreativePublic]


class ScorePartsPublic(BaseModel):
    """Why an ad was chosen: its relevance parts (null when unknown), its sampled and expected CTR, bid, score."""

    context_similarity: float | None = Field(
        description="Cosine of the creative with the product being viewed."
    )
    user_similarity: float | None = Field(
        description="Cosine of the creative with the shopper's taste vector."
    )
    category_match: float | None = Field(
        description="1: the page's category; else the shopper's relative affinity."
    )
    relevance: float = Field(description="Weighted mean of the known parts above.")
    sampled_ctr: float = Field(
        description="Thompson draw from the creative's Beta posterior in the shopper's segment."
    )
    expected_ctr: float = Field(description="The posterior mean.")
    bid: float
    score: float = Field(description="bid × sampled_ctr × exp(tilt × relevance)")


class AdPublic(BaseModel):
    """One ad to show: the creative, its campaign, and its score parts."""

    creative: CreativePublic
    campaign_id: int
    campaign_name: str
    parts: ScorePartsPublic
    impression_token: str = Field(
        description="Send it with a click on this ad (`POST /v1/ads/{id}/click`): only such clicks are charged."
    )


class AdSelectionPublic(BaseModel):
    """The ads for a shopper and page, best first (report impressions and clicks back as events)."""

    segment: str = Field(description="The shopper's segment: their top category, or 'all'.")
    context_product_id: int | None
    model_version: str | None
    eligible: int = Field(description="Creatives that could be shown (before scoring).")
    ads: list[AdPublic]


class AdEventCreate(TextIn):
    """An impression or click of a creative; a repeated event_id is ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # ids as /v1/events takes them
    event_id: str = Field(min_length=1, max_length=100, description="The sender's unique id for this event.")
    user_id: str = Field(min_length=1, max_length=100)
    session_id: str | None = Field(None, max_length=100)
    ts: TimeIn | None = Field(None, description="When it happened (default: now; no zone: UTC).")
    impression_token: str | None = Field(
        None,
        max_length=300,
        description="A click: the token /v1/ads/select gave with this ad (else not charged).",
    )


class AdEventPublic(BaseModel):
    """What became of an ad event: recorded, or ignored as a repeat of an earlier event_id."""

    event_id: str
    creative_id: int
    type: Literal["ad_impression", "ad_click"]
    recorded: bool
    charged: bool = Field(False, description="A click: whether the campaign paid for it.")
    refusal: str | None = Field(None, description="A recorded click not charged: why.")


class CreativeReportPublic(BaseModel):
    """One creative's impressions, clicks and click-through rate."""

    creative_id: int
    headline: str
    predicted_category: str | None
    status: str
    impressions: int
    clicks: int
    ctr: float


class CampaignReportPublic(BaseModel):
    """A campaign's impressions, clicks, CTR, spend and budget left, with its creatives' breakdown."""

    campaign_id: int
    name: str
    merchant: str | None
    status: str
    impressions: int
    clicks: int
    refused_clicks: int = Field(
        description="Clicks recorded but not charged (no valid impression token, ...)."
    )
    ctr: float
    spend: float
    budget: float
    budget_left: float
    creatives: list[CreativeReportPublic]


def creative_public(c: Creative) -> CreativePublic:
    """The public form of a creative."""
    return CreativePublic(
        id=c.id,
        campaign_id=c.campaign_id,
        headline=c.headline,
        sha256=c.sha256,
        url=f"/v1/images/{c.sha256}",
        thumbnail_url=f"/v1/images/{c.sha256}?variant=thumb",
        predicted_category=c.predicted_category,
        confidence=c.confidence,
        model_version=c.model_version,
        status=c.status,
        created_at=c.created_at,
    )


def campaign_public(c: Campaign, creatives: list[Creative]) -> CampaignPublic:
    """The public form of a campaign and its creatives."""
    budget, spent = Decimal(c.budget), Decimal(c.spent)
    return CampaignPublic(
        id=c.id,
        merchant=c.merchant_id,
        name=c.name,
        budget=float(budget),
        bid=float(c.bid),
        spent=float(spent),
        budget_left=float(max(budget - spent, Decimal(0))),
        target_categories=targets(c),
        status=c.status,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        created_at=c.created_at,
        creatives=[creative_public(x) for x in creatives],
    )


def ad_public(ad: AdChoice, token: str) -> AdPublic:
    """The public form of a chosen ad, with its impression token."""
    return AdPublic(
        creative=creative_public(ad.creative),
        campaign_id=ad.campaign.id,
        campaign_name=ad.campaign.name,
        parts=ScorePartsPublic(**vars(ad.parts)),
        impression_token=token,
    )


def selection_public(
    s: AdSelection, context_product_id: int | None, token: Callable[[int], str]
) -> AdSelectionPublic:
    """The public form of a selection; `token` signs the impression of a creative id."""
    return AdSelectionPublic(
        segment=s.segment,
        context_product_id=context_product_id,
        model_version=s.model_version,
        eligible=s.eligible,
        ads=[ad_public(a, token(a.creative.id)) for a in s.ads],
    )


def report_public(r: CampaignReport) -> CampaignReportPublic:
    """The public form of a campaign report."""
    return CampaignReportPublic(
        campaign_id=r.campaign_id,
        name=r.name,
        merchant=r.merchant,
        status=r.status,
        impressions=r.impressions,
        clicks=r.clicks,
        refused_clicks=r.refused_clicks,
        ctr=r.ctr,
        spend=float(r.spent),
        budget=float(r.budget),
        budget_left=float(r.budget_left),
        creatives=[CreativeReportPublic(**vars(c), ctr=c.ctr) for c in r.creatives],
    )
