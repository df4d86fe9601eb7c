"""Fixtures for ads: the catalogue fixtures (both backends), products with photos, campaigns, shopper events."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from shoplens.ads.campaigns import CampaignIn, add_creative, create_campaign
from shoplens.catalog.ingest import IngestItem, ProductIn
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Creative
from shoplens.db.base import utcnow
from shoplens.db.behaviour import Event
from tests.catalog.conftest import catalog, models_root, models_template, photos, png  # noqa: F401  (fixtures)

_ids = count()


def add_products(cat: Catalog, images: list, category: str | None = None) -> list[int]:
    """One product per photo (declared category optional); their ids."""
    items = [
        IngestItem(
            f"p{i}", ProductIn("shop", f"sku-{next(_ids)}", f"Product {i}", category=category), [png(img)]
        )
        for i, img in enumerate(images)
    ]
    outcomes = cat.ingestor().ingest(items)
    assert all(o.status == "done" for o in outcomes), outcomes
    return [o.product_id for o in outcomes]  # type: ignore[misc]


def new_campaign(
    cat: Catalog,
    name: str = "c",
    *,
    budget: str = "100",
    bid: str = "1",
    targets: tuple[str, ...] = (),
    **kw: object,
) -> int:
    """A campaign of merchant 'acme'; its id."""
    with cat.sessions.begin() as session:
        spec = CampaignIn("acme", name, Decimal(budget), Decimal(bid), targets, **kw)  # type: ignore[arg-type]
        return create_campaign(session, spec, cat.categories()).id


def new_creative(cat: Catalog, campaign_id: int, image, headline: str = "Buy") -> Creative:
    """A creative of the campaign from a photo."""
    return add_creative(cat, campaign_id, headline, png(image))


def view(cat: Catalog, user: str, product_ids: list[int], when: datetime | None = None) -> None:
    """The shopper viewed these products (a second apart, ending at `when`, default a minute ago)."""
    end = when or utcnow() - timedelta(minutes=1)
    with cat.sessions.begin() as session:
        for i, pid in enumerate(product_ids):
            ts = end - timedelta(seconds=len(product_ids) - i)
            session.add(Event(event_id=f"v{next(_ids)}", user_id=user, type="view", product_id=pid, ts=ts))
