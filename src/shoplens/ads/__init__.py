"""Ads: campaigns and creatives recognised on upload, selection (relevance × Thompson-sampled click rate × bid,
with frequency caps and budget pacing), impressions and clicks fed back, reports, and a simulator to evaluate it.

- `campaigns`: create, list, update campaigns; add creatives from image bytes; re-recognise after a model switch.
- `scoring`: the pure scoring of candidates, shared by the service and the simulator.
- `selection`: eligible creatives for a request (what is known of the shopper is `shoplens.behaviour`'s
  profile; of the page, the viewed product's category and search vector), scored and picked.
- `feedback`: ad_impression / ad_click events stored once and counted.
- `reports`: impressions, clicks, CTR, spend per campaign and creative.
- `simulate`: shoppers with hidden tastes; ShopLens selection vs random vs the best single creative.
"""

from shoplens.ads.campaigns import (
    CampaignIn,
    add_creative,
    create_campaign,
    get_campaign,
    list_campaigns,
    reembed_creatives,
    update_campaign,
)
from shoplens.ads.feedback import apply_ad_event, record_ad_event
from shoplens.ads.reports import campaign_report, campaign_reports
from shoplens.ads.scoring import SelectionConfig
from shoplens.ads.selection import AdRequest, AdSelection, select_ads, select_for

__all__ = [
    "AdRequest",
    "AdSelection",
    "CampaignIn",
    "SelectionConfig",
    "add_creative",
    "apply_ad_event",
    "campaign_report",
    "campaign_reports",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "record_ad_event",
    "reembed_creatives",
    "select_ads",
    "select_for",
    "update_campaign",
]
