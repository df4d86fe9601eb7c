"""Campaigns and creatives: validation, ownership, and recognition of creatives on upload (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from shoplens.ads.campaigns import (
    AdsInputError,
    CampaignIn,
    add_creative,
    check_campaign_owner,
    create_campaign,
    get_campaign,
    list_campaigns,
    reembed_creatives,
    targets,
    update_campaign,
)
from shoplens.catalog.service import Catalog
from shoplens.catalog.storage import content_id
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.db.ads import Creative
from shoplens.db.base import utcnow
from shoplens.errors import ForbiddenError, NotFoundError, UnsupportedFormatError
from shoplens.imaging import decode_image
from tests.support.images import jpeg_with_gps, photos
from tests.support.shop import new_campaign

PHOTOS = photos(3, seed=5)


def test_creative_is_recognised_and_stored_clean_on_upload(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, targets=())
    data = jpeg_with_gps(PHOTOS[0])
    creative = add_creative(catalog, campaign, "  Summer sale  ", data)
    assert creative.id and creative.headline == "Summer sale" and creative.sha256 == content_id(data)
    assert creative.predicted_category in CLASS_NAMES and 0 < (creative.confidence or 0) <= 1
    assert creative.model_version == "v1"
    # What the model sees in the decoded upload: the same category, confidence and search vector.
    _, probs, vectors, _ = catalog.embed([decode_image(data)])
    assert CLASS_NAMES[int(np.argmax(probs[0]))] == creative.predicted_category
    assert np.isclose(float(probs[0].max()), creative.confidence or 0)
    assert np.allclose(creative.embedding, vectors[0], atol=1e-6)
    stored = Image.open(io.BytesIO(catalog.store.open(creative.sha256)))
    assert stored.format == "PNG" and len(stored.getexif()) == 0 and "exif" not in stored.info


def test_non_images_and_unknown_campaigns_are_refused(catalog: Catalog) -> None:
    campaign = new_campaign(catalog)
    with pytest.raises(UnsupportedFormatError):
        add_creative(catalog, campaign, "x", b"%PDF-1.4 not an image")
    with pytest.raises(NotFoundError):
        add_creative(catalog, campaign + 99, "x", jpeg_with_gps(PHOTOS[1]))
    with pytest.raises(AdsInputError):
        add_creative(catalog, campaign, "   ", jpeg_with_gps(PHOTOS[1]))
    assert list(catalog.store.ids()) == []


def test_campaign_validation(catalog: Catalog) -> None:
    cats = catalog.categories()
    bad = [
        CampaignIn("acme", "c", Decimal(0), Decimal(1)),
        CampaignIn("acme", "c", Decimal(10), Decimal(11)),
        CampaignIn("acme", "c", Decimal(10), Decimal(1), ("Spaceship",)),
        CampaignIn("acme", "c", Decimal(10), Decimal(1), ends_at=utcnow() - timedelta(days=1)),
        CampaignIn("acme", "c", Decimal(10), Decimal(1), status="ended"),
    ]
    for spec in bad:
        with pytest.raises(AdsInputError), catalog.sessions.begin() as session:
            create_campaign(session, spec, cats)
    with catalog.sessions() as session:
        assert list_campaigns(session) == []


def test_update_list_and_ownership(catalog: Catalog) -> None:
    first = new_campaign(catalog, "first", targets=("Bag", "Bag", "Coat"))
    new_campaign(catalog, "second")
    with catalog.sessions.begin() as session:
        campaign = get_campaign(session, first)
        assert targets(campaign) == ["Bag", "Coat"] and campaign.merchant_id == "acme"
        check_campaign_owner(campaign, "acme")
        check_campaign_owner(campaign, None)
        with pytest.raises(ForbiddenError):
            check_campaign_owner(campaign, "other")
        changes = {"budget": Decimal("50"), "target_categories": [], "status": "paused"}
        update_campaign(session, campaign, changes, catalog.categories())
        with pytest.raises(AdsInputError):
            update_campaign(session, campaign, {"merchant_id": "other"}, catalog.categories())
        with pytest.raises(AdsInputError):
            update_campaign(session, campaign, {"bid": Decimal("60")}, catalog.categories())
    with catalog.sessions() as session:
        campaign = get_campaign(session, first)
        assert campaign.budget == Decimal("50") and targets(campaign) == [] and campaign.status == "paused"
        assert [c.name for c in list_campaigns(session, "acme")] == ["second", "first"]
        assert list_campaigns(session, "other") == []
        with pytest.raises(NotFoundError):
            get_campaign(session, 999)


def test_creatives_are_recognised_again_after_a_model_switch(catalog: Catalog) -> None:
    campaign = new_campaign(catalog)
    first = add_creative(catalog, campaign, "a", jpeg_with_gps(PHOTOS[0]))
    add_creative(catalog, campaign, "b", jpeg_with_gps(PHOTOS[1]))
    assert reembed_creatives(catalog) == 0
    catalog.space.activate("v2")  # what `shoplens reindex --version v2` ends with
    assert reembed_creatives(catalog, batch_size=1) == 2
    with catalog.sessions() as session:
        creative = session.get(Creative, first.id)
        assert creative is not None and creative.model_version == "v2"
        _, _, vectors, _ = catalog.embed([decode_image(jpeg_with_gps(PHOTOS[0]))])
        assert np.allclose(creative.embedding, vectors[0], atol=1e-6)
