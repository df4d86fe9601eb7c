"""Ads: campaigns and creatives (recognised on upload), selection for a shopper and a page, ad events, reports.

Campaign routes take a merchant key (its own campaigns only; 403 for another's) or an admin key (any; naming the
merchant when creating). Selection and ad events take any key, as a storefront reports what it showed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from shoplens.ads.campaigns import (
    CampaignIn,
    add_creative,
    check_campaign_owner,
    create_campaign,
    creatives_of,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from shoplens.ads.feedback import AdEventType, record_ad_event
from shoplens.ads.reports import campaign_report
from shoplens.ads.selection import AdRequest, select_for
from shoplens.ads.tokens import check_token, issue_token, signing_key
from shoplens.api.ads_schemas import (
    AdEventCreate,
    AdEventPublic,
    AdSelectionPublic,
    CampaignCreate,
    CampaignPublic,
    CampaignReportPublic,
    CampaignUpdate,
    CreativePublic,
    campaign_public,
    creative_public,
    report_public,
    selection_public,
)
from shoplens.api.catalog_deps import CatalogDep, OptionalShopperDep, RowId, SessionDep
from shoplens.api.deps import MerchantDep, ReaderDep, SettingsDep, acting_merchant
from shoplens.api.forms import read_form
from shoplens.api.keys import Principal
from shoplens.api.openapi import problems
from shoplens.api.uploads import IMAGE_TYPES
from shoplens.behaviour.events import EventError, parse_timestamp, user_key
from shoplens.catalog.service import Catalog
from shoplens.config import Settings
from shoplens.db.base import utcnow
from shoplens.errors import ForbiddenError
from shoplens.fields import MAX_INT

router = APIRouter(prefix="/v1/ads", tags=["ads"])
CREATIVE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["headline", "file"],
                    "properties": {
                        "headline": {"type": "string", "maxLength": 200},
                        "file": {"type": "string", "format": "binary", "description": "The ad image."},
                    },
                },
                "encoding": {"file": {"contentType": IMAGE_TYPES}},
            }
        },
    }
}


def _owned(catalog: Catalog, campaign_id: int, caller: Principal) -> CampaignPublic:
    """The campaign with its creatives, if the caller may see it (404 unknown, 403 another merchant's)."""
    with catalog.sessions() as session:
        campaign = get_campaign(session, campaign_id)
        check_campaign_owner(campaign, caller.merchant)
        return campaign_public(campaign, creatives_of(session, [campaign.id])[campaign.id])


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignPublic,
    operation_id="createCampaign",
    summary="Create a campaign",
)
def create(body: CampaignCreate, caller: MerchantDep, catalog: CatalogDep) -> CampaignPublic:
    """A new campaign with a budget, a bid per click and optional target categories."""
    merchant = acting_merchant(caller, body.merchant)
    spec = CampaignIn(
        merchant,
        body.name,
        body.budget,
        body.bid,
        body.target_categories,
        body.starts_at,
        body.ends_at,
        body.status,
    )
    categories = catalog.categories()
    with catalog.sessions.begin() as session:
        return campaign_public(create_campaign(session, spec, categories), [])


@router.get(
    "/campaigns", response_model=list[CampaignPublic], operation_id="listCampaigns", summary="List campaigns"
)
def list_(
    caller: MerchantDep,
    session: SessionDep,
    merchant: Annotated[
        str | None, Query(max_length=64, description="Only this merchant's (admin keys).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[CampaignPublic]:
    """Campaigns, newest first: a merchant key sees its own."""
    if caller.merchant is not None and merchant not in (None, caller.merchant):
        raise ForbiddenError("a merchant key lists only its own campaigns")
    campaigns = list_campaigns(session, caller.merchant or merchant, limit, offset)
    creatives = creatives_of(session, [c.id for c in campaigns])
    return [campaign_public(c, creatives[c.id]) for c in campaigns]


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignPublic,
    operation_id="getCampaign",
    summary="One campaign",
    responses=problems(404),
)
def get(campaign_id: RowId, caller: MerchantDep, catalog: CatalogDep) -> CampaignPublic:
    """A campaign with its creatives and spend."""
    return _owned(catalog, campaign_id, caller)


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignPublic,
    operation_id="updateCampaign",
    summary="Change a campaign",
    responses=problems(404),
)
def update(
    campaign_id: RowId, changes: CampaignUpdate, caller: MerchantDep, catalog: CatalogDep
) -> CampaignPublic:
    """Change name, budget, bid, target categories, status or end date."""
    categories = catalog.categories()
    with catalog.sessions.begin() as session:
        campaign = get_campaign(session, campaign_id)
        check_campaign_owner(campaign, caller.merchant)
        update_campaign(session, campaign, changes.model_dump(exclude_unset=True), categories)
        return campaign_public(campaign, creatives_of(session, [campaign.id])[campaign.id])


@router.post(
    "/campaigns/{campaign_id}/creatives",
    status_code=201,
    response_model=CreativePublic,
    openapi_extra=CREATIVE_BODY,
    operation_id="addCreative",
    summary="Add a creative (an image) to a campaign",
    responses=problems(404, 413, 415, 507),
)
async def add(
    campaign_id: RowId,
    request: Request,
    caller: MerchantDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> CreativePublic:
    """Store the image (made safe, metadata-free) and recognise it: category, confidence, embedding."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(415, "send multipart/form-data: the headline in 'headline', the image in 'file'")
    await run_in_threadpool(_owned, catalog, campaign_id, caller)
    async with read_form(request, max_files=1, max_fields=settings.max_parts) as form:
        headline, upload = form.get("headline"), form.get("file")
        if not isinstance(headline, str):
            raise HTTPException(422, "missing form field 'headline'")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "missing image: send it as the file field 'file'")
        data = await upload.read()
    creative = await run_in_threadpool(add_creative, catalog, campaign_id, headline, data)
    return creative_public(creative)


@router.get(
    "/select",
    response_model=AdSelectionPublic,
    operation_id="selectAds",
    summary="Ads for a shopper and the product being viewed",
    responses=problems(404),
)
def select(
    _caller: ReaderDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    shopper: OptionalShopperDep,
    context_product_id: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="The product on the page.")
    ] = None,
    slots: Annotated[int, Query(ge=1, le=10, description="How many ads the page shows.")] = 1,
) -> AdSelectionPublic:
    """Eligible creatives ranked by relevance and a Thompson-sampled click rate, with frequency caps and pacing."""
    user = shopper.key if shopper is not None else None
    selection = select_for(catalog, AdRequest(user, context_product_id, slots))
    key, now = token_key(settings), utcnow()
    return selection_public(
        selection, context_product_id, lambda creative: issue_token(key, creative, user, now)
    )


def token_key(settings: Settings) -> bytes:
    """The key that signs and checks impression tokens."""
    secret = settings.ad_token_secret or settings.user_id_secret
    return signing_key(secret.get_secret_value() if secret is not None else None)


def _event(
    catalog: Catalog, settings: Settings, creative_id: int, body: AdEventCreate, kind: AdEventType
) -> Response:
    """Record an ad event: 201 when new, 200 when its event_id was seen before."""
    try:  # within the times /v1/events takes
        ts = parse_timestamp(body.ts, utcnow()) if body.ts else utcnow()
    except EventError as e:
        raise HTTPException(422, str(e).replace("timestamp", "ts", 1)) from None
    impression = None
    if kind == "ad_click":
        user = user_key(body.user_id, settings.user_id_secret)
        impression = check_token(token_key(settings), body.impression_token, creative_id, user, utcnow())
    with catalog.sessions.begin() as session:
        outcome = record_ad_event(
            session,
            event_id=body.event_id,
            kind=kind,
            creative_id=creative_id,
            user_id=body.user_id,
            secret=settings.user_id_secret,
            ts=ts,
            session_id=body.session_id,
            impression=impression,
        )
    payload = AdEventPublic(
        event_id=body.event_id,
        creative_id=creative_id,
        type=kind,
        recorded=outcome.recorded,
        charged=outcome.charged,
        refusal=outcome.refusal,
    )
    return JSONResponse(payload.model_dump(), status_code=201 if outcome.recorded else 200)


@router.post(
    "/{creative_id}/impression",
    status_code=201,
    response_model=AdEventPublic,
    operation_id="recordAdImpression",
    summary="An ad was shown",
    responses={200: {"description": "A repeat of an earlier event_id: ignored"}, **problems(404, 409)},
)
def impression(
    creative_id: RowId, body: AdEventCreate, _caller: ReaderDep, catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """Record that a shopper saw a creative (counted in their segment)."""
    return _event(catalog, settings, creative_id, body, "ad_impression")


@router.post(
    "/{creative_id}/click",
    status_code=201,
    response_model=AdEventPublic,
    operation_id="recordAdClick",
    summary="An ad was clicked",
    responses={200: {"description": "A repeat of an earlier event_id: ignored"}, **problems(404, 409)},
)
def click(
    creative_id: RowId, body: AdEventCreate, _caller: ReaderDep, catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """Record that a shopper clicked a creative; the campaign pays its bid for a click with a valid impression token."""
    return _event(catalog, settings, creative_id, body, "ad_click")


@router.get(
    "/campaigns/{campaign_id}/report",
    response_model=CampaignReportPublic,
    operation_id="getCampaignReport",
    summary="A campaign's report",
    responses=problems(404),
)
def report(campaign_id: RowId, caller: MerchantDep, session: SessionDep) -> CampaignReportPublic:
    """Impressions, clicks, CTR, spend and budget left, per campaign and per creative."""
    check_campaign_owner(get_campaign(session, campaign_id), caller.merchant)
    return report_public(campaign_report(session, campaign_id))
