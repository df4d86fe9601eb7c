"""Demo ad campaigns for the console: a few untargeted campaigns whose creatives are catalogue photos."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from shoplens.ads.campaigns import CampaignIn, add_creative, create_campaign
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Campaign
from shoplens.db.catalog import Product, ProductImage

CAMPAIGNS = (
    ("m00", "Autumn layers", "Warm up: coats and pullovers", ("Coat", "Pullover")),
    ("m05", "Step out", "New season shoes", ("Sneaker", "Ankle boot", "Sandal")),
    ("m10", "Carry more", "Bags for every day", ("Bag",)),
    ("m15", "Summer basics", "Tees, shirts and dresses", ("T-shirt/top", "Shirt", "Dress")),
)


def seed_demo_campaigns(catalog: Catalog, per_campaign: int = 2) -> tuple[int, int]:
    """Create the demo campaigns (no targeting: creatives are recognised) with photos of their categories: one per
    demo merchant that sells something and has no campaign of that name yet; (campaigns, creatives) made."""
    categories = catalog.categories()
    campaigns = created = 0
    for merchant, name, headline, wanted in CAMPAIGNS:
        with catalog.sessions.begin() as session:
            sells = session.scalar(select(Product.id).where(Product.merchant_id == merchant).limit(1))
            seeded = session.scalar(
                select(Campaign.id).where(Campaign.merchant_id == merchant, Campaign.name == name).limit(1)
            )
            if sells is None or seeded is not None:  # a merchant the demo did not make, or a second run
                continue
            campaign = create_campaign(
                session, CampaignIn(merchant, name, Decimal("50"), Decimal("0.40")), categories
            )
            campaign_id = campaign.id
            campaigns += 1
            shas = session.scalars(
                select(ProductImage.sha256)
                .join(Product)
                .where(Product.declared_category.in_(wanted), ProductImage.predicted_category.in_(wanted))
                .order_by(ProductImage.confidence.desc())
                .limit(per_campaign)
            ).all()
        for sha in shas:
            add_creative(catalog, campaign_id, headline, catalog.store.open(sha))
            created += 1
    return campaigns, created
