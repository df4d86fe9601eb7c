"""Events in: validation one event at a time, idempotent ids, pseudonymised users, UTC times, CSV import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from shoplens.behaviour.events import (
    EventError,
    EventIn,
    import_csv,
    parse_timestamp,
    record_events,
    user_key,
)
from shoplens.catalog.service import Catalog
from shoplens.db.base import as_utc
from shoplens.db.behaviour import CachedRecommendation, Event, UserProfile
from shoplens.recommend.recommender import Recommender

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def view(
    event_id: str,
    product: int | None,
    user: str = "u1",
    ts: str | None = "2026-11-27T10:00:00Z",
    type: str = "view",
    ad_id: int | None = None,
) -> EventIn:
    """An event in session s1 (a view unless told)."""
    return EventIn(event_id, user, type, ts, product, ad_id, "s1")


def stored(catalog: Catalog) -> list[Event]:
    with catalog.sessions() as s:
        return list(s.scalars(select(Event).order_by(Event.event_id)))


def test_timestamps_are_utc_and_naive_means_utc() -> None:
    assert parse_timestamp("2026-11-27T10:00:00", NOW) == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_timestamp("2026-11-27T10:00:00+02:00", NOW) == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert parse_timestamp("2026-11-28T12:04:00Z", NOW) == NOW + timedelta(
        minutes=4
    )  # a little clock skew is fine
    for bad, why in (
        ("2026-11-28T12:06:00Z", "future"),
        ("yesterday", "ISO 8601"),
        (None, "required"),
        ("9999-12-31T23:59:59-14:00", "out of range"),  # past year 9999 in UTC (an OverflowError before)
        ("0001-01-01T00:00:00+14:00", "out of range"),
    ):
        with pytest.raises(EventError, match=why):
            parse_timestamp(bad, NOW)


def test_good_events_are_stored_and_bad_ones_rejected_alone(catalog: Catalog, shop: list[int]) -> None:
    p = shop[0]
    batch = [
        view("ok1", p, ts="2026-11-27T10:00:00+02:00"),
        view("unknown-product", 999_999),
        view("no-product", None),
        view("bad-type", p, type="like"),
        view("future", p, ts="2999-01-01T00:00:00Z"),
        view("no-ad", None, type="ad_click"),
        view("unknown-ad", None, type="ad_impression", ad_id=12345),
        view("long-user", p, user="x" * 101),
        view("surrogate-user", p, user="\ud800x"),  # valid JSON ("\\ud800"), no UTF-8: the batch failed
        view("surrogate-event\udfff", p),
        view("overflow", p, ts="9999-12-31T23:59:59-14:00"),
        view("ok2", p, type="purchase"),
    ]
    out = record_events(catalog.sessions, batch, now=NOW)
    status = {r.event_id: (r.status, r.reason) for r in out.results}
    assert [r.event_id for r in out.results] == [e.event_id for e in batch]
    assert status["ok1"] == ("accepted", None) and status["ok2"] == ("accepted", None)
    assert status["unknown-product"] == ("rejected", "unknown product 999999")
    assert (
        "needs a product_id" in status["no-product"][1]
        and "unknown event type 'like'" in status["bad-type"][1]
    )
    assert "future" in status["future"][1] and "needs an ad_id" in status["no-ad"][1]
    assert status["unknown-ad"][1] == "unknown ad 12345" and "longer than 100" in status["long-user"][1]
    assert (
        "lone surrogate" in status["surrogate-user"][1]
        and "lone surrogate" in status["surrogate-event\udfff"][1]
    )
    assert "out of range" in status["overflow"][1]
    rows = stored(catalog)
    assert [r.event_id for r in rows] == ["ok1", "ok2"] and out.users == {"u1"}
    assert as_utc(rows[0].ts) == datetime(2026, 11, 27, 8, tzinfo=UTC) and rows[1].type == "purchase"


def test_repeated_event_ids_are_ignored(catalog: Catalog, shop: list[int]) -> None:
    first = record_events(
        catalog.sessions, [view("a", shop[0]), view("b", shop[1]), view("a", shop[2])], now=NOW
    )
    assert [r.status for r in first.results] == ["accepted", "accepted", "duplicate"]
    again = record_events(catalog.sessions, [view("b", shop[1]), view("c", shop[1])], now=NOW)
    assert [(r.status, r.reason) for r in again.results] == [
        ("duplicate", "already recorded"),
        ("accepted", None),
    ]
    rows = stored(catalog)
    assert [r.event_id for r in rows] == ["a", "b", "c"] and rows[0].product_id == shop[0]


def test_user_ids_are_pseudonymised_with_the_secret(catalog: Catalog, shop: list[int]) -> None:
    secret = SecretStr("s3cret")
    record_events(catalog.sessions, [view("a", shop[0], user="alice@example.com")], secret, now=NOW)
    record_events(catalog.sessions, [view("b", shop[1], user="alice@example.com")], secret, now=NOW)
    key = user_key("alice@example.com", secret)
    assert len(key) == 64 and key != user_key("alice@example.com", SecretStr("other"))
    assert {r.user_id for r in stored(catalog)} == {key}
    assert user_key("alice@example.com", None) == "alice@example.com"


def test_batches_are_capped(catalog: Catalog) -> None:
    with pytest.raises(EventError, match="at most 1000"):
        record_events(catalog.sessions, [view(str(i), 1) for i in range(1001)], now=NOW)


def test_new_events_drop_the_users_cached_profile_and_recommendations(
    catalog: Catalog, shop: list[int]
) -> None:
    record_events(catalog.sessions, [view("a", shop[0]), view("z", shop[1], user="u2")], now=NOW)
    rec = Recommender(catalog)
    rec.recommend("u1", 3)
    rec.recommend("u2", 3)
    with catalog.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UserProfile)) == 2
        assert s.scalar(select(func.count()).select_from(CachedRecommendation)) == 2
    record_events(catalog.sessions, [view("b", shop[1])], now=NOW)
    with catalog.sessions() as s:
        assert s.scalars(select(UserProfile.user_id)).all() == ["u2"]
        assert s.scalars(select(CachedRecommendation.user_id)).all() == ["u2"]


def test_csv_import_reports_bad_lines_and_is_idempotent(
    catalog: Catalog, shop: list[int], tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,user_id,type,timestamp,product_id,session_id\n"
        f"e1,u1,view,2026-11-27T10:00:00Z,{shop[0]},s1\n"
        f"e2,u1,add_to_cart,2026-11-27T10:01:00Z,{shop[0]},s1\n"
        "e3,u1,view,2026-11-27T10:02:00Z,abc,s1\n"
        "e4,u2,view,2026-11-27T10:02:00Z,999999,s2\n"
    )
    first = import_csv(catalog.sessions, path, batch_size=2)
    assert (first.accepted, first.duplicates, first.rejected) == (2, 0, 2)
    assert first.errors == [(4, "product_id 'abc' is not an integer"), (5, "unknown product 999999")]
    again = import_csv(catalog.sessions, path)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 2)
    assert [r.event_id for r in stored(catalog)] == ["e1", "e2"]
