"""Impressions and clicks coming back: events stored once, then counted in `ad_stats` and charged to campaigns.

Each impression counts in the shopper's segment as it was when the ad was shown: the top category of their
profile (`shoplens.behaviour.profiles`, the one recommendations use) from the events before it. A click counts
in the segment of the shopper's latest impression of that creative, so a segment's clicks and impressions
belong together; a click arriving without any recorded impression counts as an impression too, so a click rate
never exceeds 1. A click counts only when it carries a valid impression token of that creative and shopper
(`shoplens.ads.tokens`) that no click has used before: clicks anyone can post must not raise a creative's click
rate, which ranks it. Such a click charges the campaign its bid, never past its budget, when the campaign is
active and within its dates; every other click is counted in `refused_clicks` only. Every write is a single SQL
statement (an upsert or an increment), safe beside concurrent requests; a repeated event_id is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from shoplens.ads.tokens import Impression, check_token
from shoplens.behaviour.erasure import erased, erasure_guard
from shoplens.behaviour.events import ERASED, ShopperErasedError, forget_derived, user_key
from shoplens.behaviour.profiles import segment_at
from shoplens.db.ads import MONEY_SLACK, AdStat, Campaign, ClickCharge, Creative
from shoplens.db.base import as_utc, upsert, utcnow
from shoplens.db.behaviour import Event
from shoplens.errors import NotFoundError

AD_EVENTS = ("ad_impression", "ad_click")
AdEventType = Literal["ad_impression", "ad_click"]


def _count(session: Session, creative_id: int, segment: str, impressions: int, clicks: int) -> None:
    """Add impressions and clicks to a creative's counts in a segment (the row made when missing)."""
    new_clicks = AdStat.clicks + clicks
    new_impressions = AdStat.impressions + impressions
    stmt = upsert(session)(AdStat).values(
        creative_id=creative_id, segment=segment, impressions=max(impressions, clicks), clicks=clicks
    )
    impressions_after = case(
        (new_impressions < new_clicks, new_clicks), else_=new_impressions
    )  # never below clicks
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[AdStat.creative_id, AdStat.segment],
            set_={"clicks": new_clicks, "impressions": impressions_after},
        )
    )


def _token_refusal(session: Session, impression: Impression | str | None) -> str | None:
    """Why a click's token does not count it (None: a valid token, now used by this click)."""
    if not isinstance(impression, Impression):
        return impression or "no impression token"
    once = upsert(session)(ClickCharge).values(
        token_id=impression.token_id, creative_id=impression.creative_id
    )
    if session.scalar(once.on_conflict_do_nothing().returning(ClickCharge.token_id)) is None:
        return "the impression token was used for a click already"
    return None


def _charge(session: Session, campaign_id: int, ts: datetime, refusal: str | None) -> str | None:
    """Add one click's bid to the campaign's spend, capped at its budget (what is left of it, when less); the
    reason when it is not charged (`refusal`: its token's, if any)."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    if refusal is None and (
        campaign.status != "active"
        or ts < as_utc(campaign.starts_at)
        or (campaign.ends_at is not None and ts > as_utc(campaign.ends_at))
    ):
        refusal = "the campaign is not running"
    if refusal is None:
        after = Campaign.spent + Campaign.bid
        charged = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.spent + MONEY_SLACK < Campaign.budget)  # no race
            .values(spent=case((after > Campaign.budget, Campaign.budget), else_=after))
            .execution_options(synchronize_session=False)
        )
        if charged.rowcount == 1:  # type: ignore[attr-defined]
            return None
        refusal = "the campaign's budget is spent"
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(refused_clicks=Campaign.refused_clicks + 1)
        .execution_options(synchronize_session=False)
    )
    return refusal


def _impression_time(session: Session, event: Event) -> datetime:
    """When the shopper last saw the clicked creative (the click's own time when never)."""
    shown = session.scalar(
        select(Event.ts)
        .where(
            Event.user_id == event.user_id,
            Event.ad_id == event.ad_id,
            Event.type == "ad_impression",
            Event.ts <= event.ts,
        )
        .order_by(Event.ts.desc())
        .limit(1)
    )
    return shown if shown is not None else event.ts


def apply_ad_event(session: Session, event: Event, impression: Impression | str | None = None) -> str | None:
    """Count a newly stored ad_impression or ad_click event (call once per new event, in its transaction).

    A click is charged when `impression` is a valid token's (`check_token`); else the reason it was not.
    """
    if event.type not in AD_EVENTS or event.ad_id is None:
        return None
    campaign_id = session.scalar(select(Creative.campaign_id).where(Creative.id == event.ad_id))
    if campaign_id is None:
        raise NotFoundError(f"no creative {event.ad_id}")
    if event.type == "ad_impression":
        _count(session, event.ad_id, segment_at(session, event.user_id, event.ts), 1, 0)
        return None
    refusal = _token_refusal(session, impression)
    if refusal is None:  # a click someone was shown the ad for: it counts
        segment = segment_at(session, event.user_id, _impression_time(session, event))
        _count(session, event.ad_id, segment, 0, 1)
    return _charge(session, campaign_id, as_utc(event.ts), refusal)


def ad_event_counter(
    key: bytes, tokens: Mapping[str, str], now: datetime
) -> Callable[[Session, Event], str | None]:
    """apply_ad_event for a batch of stored events, each click judged by the impression token sent with it
    (`tokens` by event_id, checked with `key` at `now`)."""

    def count(session: Session, event: Event) -> str | None:
        impression = None
        if event.type == "ad_click" and event.ad_id is not None:
            impression = check_token(key, tokens.get(event.event_id), event.ad_id, event.user_id, now)
        return apply_ad_event(session, event, impression)

    return count


@dataclass(frozen=True)
class AdEventOutcome:
    """What became of an ad event: stored (False: a repeat, ignored), and for a click whether it was charged."""

    recorded: bool
    charged: bool = False
    refusal: str | None = None


def record_ad_event(
    session: Session,
    *,
    event_id: str,
    kind: AdEventType,
    creative_id: int,
    user_id: str,
    secret: SecretStr | None = None,
    ts: datetime | None = None,
    session_id: str | None = None,
    impression: Impression | str | None = None,
) -> AdEventOutcome:
    """Store an ad event and count it (the shopper id pseudonymised under `secret`); not recorded when seen before.

    A click is charged only for `impression`, a valid token's (`check_token`; a string: why it is not valid).
    An erased shopper's event is refused (ShopperErasedError).
    """
    if kind not in AD_EVENTS:
        raise ValueError(f"kind must be one of {AD_EVENTS}, got {kind!r}")
    if session.get(Creative, creative_id) is None:
        raise NotFoundError(f"no creative {creative_id}")
    values = {
        "event_id": event_id,
        "user_id": user_key(user_id, secret),
        "session_id": session_id,
        "type": kind,
        "ad_id": creative_id,
        "ts": as_utc(ts) if ts else utcnow(),
    }
    erasure_guard(session)
    if erased(session, [values["user_id"]]):
        raise ShopperErasedError(ERASED)
    insert = upsert(session)(Event).values(**values).on_conflict_do_nothing(index_elements=[Event.event_id])
    stored = session.scalar(insert.returning(Event.id))
    if stored is None:  # seen before (perhaps stored by a concurrent request a moment ago)
        return AdEventOutcome(False)
    refusal = apply_ad_event(session, Event(id=stored, **values), impression)
    forget_derived(session, [values["user_id"]])  # an ad click is part of the shopper's profile
    return AdEventOutcome(True, kind == "ad_click" and refusal is None, refusal)
