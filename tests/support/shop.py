"""A catalogue's contents for a test: products with photos, ad campaigns and creatives, shopper events."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from PIL import Image
from sqlalchemy.orm import Session

from shoplens.ads.campaigns import CampaignIn, add_creative, create_campaign
from shoplens.ads.feedback import record_ad_event
from shoplens.ads.tokens import Impression
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Creative
from shoplens.db.base import utcnow
from shoplens.db.behaviour import Event
from tests.support.images import photos, png

CATEGORIES = ("Coat", "Bag", "Sneaker", "Dress")
_ids = count()


def served(creative_id: int, when: datetime | None = None) -> Impression:
    """A valid impression token's content for a click on a creative (what the API checks before charging)."""
    return Impression(creative_id, "", when or utcnow(), secrets.token_hex(8))


def paid_click(session: Session, event_id: str, creative_id: int, ts: datetime | None = None) -> None:
    """Record a click by shopper "u" with a valid impression token (so it is charged)."""
    record_ad_event(
        session,
        event_id=event_id,
        kind="ad_click",
        creative_id=creative_id,
        user_id="u",
        ts=ts,
        impression=served(creative_id, ts),
    )


def ingest_all(cat: Catalog, items: list[IngestItem]) -> list[int]:
    """Ingest the items (each must succeed); the products' ids in order."""
    outcomes = cat.ingestor().ingest(items)
    assert all(o.status == "done" for o in outcomes), outcomes
    return [o.product_id for o in outcomes if o.product_id is not None]


def stock_shop(cat: Catalog, n: int = 12, seed: int = 3, out_of_stock: Sequence[int] = ()) -> list[int]:
    """n products (categories in turn, one photo each, stock 5 or 0 at the given positions); their ids in order."""
    items = [
        IngestItem(
            f"p{i}",
            ProductIn(
                "acme",
                f"sku{i}",
                f"Item {i}",
                category=CATEGORIES[i % len(CATEGORIES)],
                stock=0 if i in out_of_stock else 5,
            ),
            [png(img)],
        )
        for i, img in enumerate(photos(n, seed=seed))
    ]
    return ingest_all(cat, items)


def add_products(cat: Catalog, images: list[Image.Image], category: str | None = None) -> list[int]:
    """One product of merchant 'shop' per photo (declared category optional); their ids."""
    items = [
        IngestItem(
            f"p{i}", ProductIn("shop", f"sku-{next(_ids)}", f"Product {i}", category=category), [png(img)]
        )
        for i, img in enumerate(images)
    ]
    return ingest_all(cat, items)


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


def new_creative(cat: Catalog, campaign_id: int, image: Image.Image, headline: str = "Buy") -> Creative:
    """A creative of the campaign from a photo."""
    return add_creative(cat, campaign_id, headline, png(image))


def view(cat: Catalog, user: str, product_ids: list[int], when: datetime | None = None) -> None:
    """The shopper viewed these products (a second apart, ending at `when`, default a minute ago)."""
    end = when or utcnow() - timedelta(minutes=1)
    with cat.sessions.begin() as session:
        for i, pid in enumerate(product_ids):
            ts = end - timedelta(seconds=len(product_ids) - i)
            session.add(Event(event_id=f"v{next(_ids)}", user_id=user, type="view", product_id=pid, ts=ts))
