"""Per-campaign reports: impressions, clicks, click-through rate, spend and budget left, with a per-creative breakdown.

Impressions and clicks are the sums of `ad_stats` over segments (one SQL aggregation); spend is what clicks
charged the campaign (`campaigns.spent`), so the creatives' counts add up to the campaign's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoplens.ads.campaigns import get_campaign, list_campaigns
from shoplens.db.ads import AdStat, Campaign, Creative


def ctr(clicks: int, impressions: int) -> float:
    """Clicks per impression (0 without impressions)."""
    return clicks / impressions if impressions else 0.0


@dataclass(frozen=True)
class CreativeReport:
    """One creative's impressions, clicks and click-through rate."""

    creative_id: int
    headline: str
    predicted_category: str | None
    status: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        """Clicks per impression."""
        return ctr(self.clicks, self.impressions)


@dataclass(frozen=True)
class CampaignReport:
    """A campaign's totals and its creatives' breakdown."""

    campaign_id: int
    name: str
    merchant: str | None
    status: str
    budget: Decimal
    spent: Decimal
    creatives: list[CreativeReport]

    @property
    def impressions(self) -> int:
        """Impressions of all its creatives."""
        return sum(c.impressions for c in self.creatives)

    @property
    def clicks(self) -> int:
        """Clicks on all its creatives."""
        return sum(c.clicks for c in self.creatives)

    @property
    def ctr(self) -> float:
        """Clicks per impression over all its creatives."""
        return ctr(self.clicks, self.impressions)

    @property
    def budget_left(self) -> Decimal:
        """Budget not spent yet."""
        return max(Decimal(self.budget) - Decimal(self.spent), Decimal(0))


def _creative_rows(session: Session, campaign_ids: list[int]) -> dict[int, list[CreativeReport]]:
    """Per campaign, each creative's summed impressions and clicks over segments."""
    found: dict[int, list[CreativeReport]] = {i: [] for i in campaign_ids}
    if not campaign_ids:
        return found
    rows = session.execute(
        select(
            Creative.campaign_id,
            Creative.id,
            Creative.headline,
            Creative.predicted_category,
            Creative.status,
            func.coalesce(func.sum(AdStat.impressions), 0),
            func.coalesce(func.sum(AdStat.clicks), 0),
        )
        .outerjoin(AdStat, AdStat.creative_id == Creative.id)
        .where(Creative.campaign_id.in_(campaign_ids))
        .group_by(
            Creative.campaign_id, Creative.id, Creative.headline, Creative.predicted_category, Creative.status
        )
        .order_by(Creative.id)
    )
    for campaign_id, cid, headline, category, status, impressions, clicks in rows:
        found[campaign_id].append(
            CreativeReport(cid, headline, category, status, int(impressions), int(clicks))
        )
    return found


def _report(campaign: Campaign, creatives: list[CreativeReport]) -> CampaignReport:
    """The report of one campaign row."""
    return CampaignReport(
        campaign.id,
        campaign.name,
        campaign.merchant_id,
        campaign.status,
        Decimal(campaign.budget),
        Decimal(campaign.spent),
        creatives,
    )


def campaign_report(session: Session, campaign_id: int) -> CampaignReport:
    """One campaign's report; NotFoundError for an unknown campaign."""
    campaign = get_campaign(session, campaign_id)
    return _report(campaign, _creative_rows(session, [campaign.id])[campaign.id])


def campaign_reports(
    session: Session, merchant: str | None = None, limit: int = 100, offset: int = 0
) -> list[CampaignReport]:
    """Reports of campaigns, newest first (one merchant's when given)."""
    campaigns = list_campaigns(session, merchant, limit, offset)
    rows = _creative_rows(session, [c.id for c in campaigns])
    return [_report(c, rows[c.id]) for c in campaigns]
