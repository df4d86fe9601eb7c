"""Answers kept per (shopper, k) in `recommendation_cache`: given again within their TTL while every product in
them can still be sold; dropped when the shopper acts (`behaviour.events.forget_derived`), deleted once expired
(on the next store, or `shoplens events expire`), never stored for an erased shopper."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from shoplens.behaviour.erasure import store_unless_erased
from shoplens.db.base import as_utc
from shoplens.db.behaviour import CachedRecommendation
from shoplens.recommend.items import Recommendation, Recommendations, product_info


def read_cached(
    sessions: sessionmaker[Session], user: str, k: int, now: datetime, ttl_s: float
) -> Recommendations | None:
    """A cached answer still within its TTL whose products can all still be sold, else None."""
    with sessions() as session:
        row = session.get(CachedRecommendation, (user, k))
        if row is None or (now - as_utc(row.created_at)).total_seconds() > ttl_s:
            return None
        data = json.loads(row.payload)
        items = [Recommendation(**i) for i in data["items"]]
        info = product_info(session, [i.product_id for i in items])
    if not all(i.product_id in info and info[i.product_id].available for i in items):
        return None
    return Recommendations(
        user, k, items, data["cold_start"], data["model_version"], as_utc(row.created_at), True
    )


def store_cached(sessions: sessionmaker[Session], rec: Recommendations, ttl_s: float) -> None:
    """Cache an answer (a concurrent request that stored first wins), deleting cached rows older than ttl_s."""
    payload = {
        "items": [asdict(i) for i in rec.items],
        "cold_start": rec.cold_start,
        "model_version": rec.model_version,
    }
    row = CachedRecommendation(
        user_id=rec.user_id, k=rec.k, payload=json.dumps(payload), created_at=rec.generated_at
    )
    store_unless_erased(sessions, row, expire=(rec.generated_at, ttl_s))
