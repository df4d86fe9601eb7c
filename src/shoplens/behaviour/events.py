"""Shopper events in: per-event validation, pseudonymised user ids, idempotent batched insert, CSV import.

Each event is judged alone: a bad one is rejected with its reason and the rest of the batch is kept. A repeated
`event_id` (in the same batch or sent earlier) is a duplicate and ignored. Timestamps are ISO 8601; one without
a zone is taken as UTC, and one more than `MAX_FUTURE` ahead of the server's clock is rejected.

When a secret is set, user ids are replaced by HMAC-SHA256(secret, id) before anything is stored, so the raw id
never reaches the database; the same id always maps to the same key, so profiles and erasure still work.
Events of an erased shopper (see `erasure`) are rejected alone, with the reason `ERASED`: erasure is final, and
a sender's late or replayed events must not bring the shopper back.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.behaviour.erasure import erased, erasure_guard
from shoplens.db.ads import Creative
from shoplens.db.base import upsert, utcnow
from shoplens.db.behaviour import EVENT_TYPES, CachedRecommendation, Event, UserProfile
from shoplens.db.catalog import Product
from shoplens.errors import ConflictError, DataFormatError, DataNotFoundError, ShopLensError
from shoplens.fields import MAX_INT, check_text
from shoplens.files import csv_header

PRODUCT_EVENTS = ("view", "click", "add_to_cart", "purchase")
MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(days=730)  # older events (0001-01-01) are mistakes, and would never count in a profile
MAX_ID = 100  # characters of event, user and session ids (the columns' width)
AD_EVENTS = ("ad_impression", "ad_click")
CSV_COLUMNS = ("event_id", "user_id", "type", "timestamp")  # required; product_id, ad_id, session_id optional
EVENT_COLUMNS = (*CSV_COLUMNS, "product_id", "ad_id", "session_id")
ERASED = "this shopper was erased: their events are refused"


def user_key(user_id: str, secret: SecretStr | None) -> str:
    """The id stored for a shopper: HMAC-SHA256 of the id under the secret (hex), or the id itself without one.

    Surrounding whitespace is not part of the id (events strip it), so every path finds the same shopper.
    """
    user_id = user_id.strip()
    if secret is None:
        return user_id
    return hmac.new(secret.get_secret_value().encode(), user_id.encode(), hashlib.sha256).hexdigest()


class EventError(ShopLensError):
    """One event cannot be accepted as sent."""

    exit_code = 2


class ShopperErasedError(ConflictError):
    """An event for a shopper who was erased (409 for a single ad event; a batch rejects such events alone)."""


@dataclass(frozen=True)
class EventIn:
    """An event as sent: ids, type, timestamp (ISO 8601 text or a datetime), product or ad, session."""

    event_id: str
    user_id: str
    type: str
    timestamp: str | datetime | None
    product_id: int | None = None
    ad_id: int | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class EventResult:
    """What became of one event: accepted, duplicate (ignored) or rejected with a reason."""

    event_id: str
    status: str
    reason: str | None = None


@dataclass
class BatchOutcome:
    """Per-event results in the order sent, and the (stored) user keys that got new events."""

    results: list[EventResult]
    users: set[str] = field(default_factory=set)

    def count(self, status: str) -> int:
        """How many events ended with this status."""
        return sum(1 for r in self.results if r.status == status)


def parse_timestamp(value: str | datetime | None, now: datetime) -> datetime:
    """An event time as aware UTC: ISO 8601 (no zone → UTC); EventError if missing, malformed or in the future."""
    if value is None or value == "":
        raise EventError("timestamp is required (ISO 8601, e.g. 2026-11-28T09:30:00Z)")
    if isinstance(value, datetime):
        ts = value
    else:
        try:
            ts = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise EventError(f"timestamp {value!r} is not ISO 8601 (e.g. 2026-11-28T09:30:00Z)") from None
    try:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00 is past year 9999 in UTC
        raise EventError(f"timestamp {value!s:.40} is out of range") from None
    if ts < now - MAX_PAST:
        raise EventError(f"timestamp {ts.isoformat()} is more than {MAX_PAST.days} days in the past")
    if ts > now + MAX_FUTURE:
        raise EventError(
            f"timestamp {ts.isoformat()} is in the future (server time {now.isoformat(timespec='seconds')})"
        )
    return ts


def _text(value: str | None, what: str, required: bool) -> str | None:
    """A stripped id, EventError when required and empty or longer than MAX_ID."""
    text = (value or "").strip()
    if not text:
        if required:
            raise EventError(f"{what} is required")
        return None
    try:
        check_text(text, what, MAX_ID)
    except ValueError as e:
        raise EventError(str(e)) from None
    return text


def _check_row_id(value: int | None, what: str) -> None:
    """EventError when an id is outside what the database holds (a per-event error, not a failed batch)."""
    if value is not None and not 1 <= value <= MAX_INT:
        raise EventError(f"{what} must be between 1 and {MAX_INT}")


def check_event(e: EventIn, secret: SecretStr | None, now: datetime) -> dict[str, Any]:
    """The row to insert for an event (user id pseudonymised); EventError saying what is wrong with it."""
    user = _text(e.user_id, "user_id", True)
    if "\x00" in e.event_id:
        raise EventError("event_id contains a NUL character")
    if e.type not in EVENT_TYPES:
        raise EventError(f"unknown event type {e.type!r}; types: {', '.join(EVENT_TYPES)}")
    if e.type in PRODUCT_EVENTS and e.product_id is None:
        raise EventError(f"a {e.type} event needs a product_id")
    if e.type in AD_EVENTS and e.ad_id is None:
        raise EventError(f"an {e.type} event needs an ad_id")
    _check_row_id(e.product_id, "product_id")
    _check_row_id(e.ad_id, "ad_id")
    assert user is not None
    return {
        "event_id": e.event_id,
        "user_id": user_key(user, secret),
        "type": e.type,
        "product_id": e.product_id,
        "ad_id": e.ad_id,
        "session_id": _text(e.session_id, "session_id", False),
        "ts": parse_timestamp(e.timestamp, now),
    }


def _existing(session: Session, column: Any, ids: set[int]) -> set[int]:
    """Which of these ids exist in the column's table."""
    return set(session.scalars(select(column).where(column.in_(ids)))) if ids else set()


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping event ids already stored (even by a concurrent request); the event ids inserted."""
    if not rows:
        return set()
    now = utcnow()
    stmt = (
        upsert(session)(Event).on_conflict_do_nothing(index_elements=["event_id"]).returning(Event.event_id)
    )
    return set(session.scalars(stmt, [{**r, "created_at": now} for r in rows]))


def forget_derived(session: Session, users: Iterable[str]) -> None:
    """Drop the cached profiles and recommendations of these users (recomputed on the next read)."""
    users = list(users)
    if users:
        session.execute(delete(UserProfile).where(UserProfile.user_id.in_(users)))
        session.execute(delete(CachedRecommendation).where(CachedRecommendation.user_id.in_(users)))


def record_events(
    sessions: sessionmaker[Session],
    events: Sequence[EventIn],
    secret: SecretStr | None = None,
    now: datetime | None = None,
    on_new: Callable[[Session, Event], object] | None = None,
) -> BatchOutcome:
    """Validate and store a batch in one transaction; per-event results; caches of affected users dropped.

    `on_new` sees every newly stored event, oldest first, inside the transaction (ads count theirs there).
    """
    if len(events) > MAX_BATCH:
        raise EventError(f"at most {MAX_BATCH} events per batch, got {len(events)}")
    now = now or utcnow()
    rows: dict[int, dict[str, Any]] = {}
    results: dict[int, EventResult] = {}
    seen: set[str] = set()
    for n, e in enumerate(events):
        try:
            event_id = _text(e.event_id, "event_id", True)
            if event_id in seen:
                results[n] = EventResult(e.event_id, "duplicate", "repeated within this batch")
                continue
            rows[n] = check_event(EventIn(**{**e.__dict__, "event_id": event_id}), secret, now)
            seen.add(rows[n]["event_id"])
        except EventError as err:
            results[n] = EventResult(e.event_id, "rejected", str(err))
    with sessions.begin() as session:
        erasure_guard(session)  # an erasure in progress ends first; its tombstones are then seen below
        products = _existing(
            session, Product.id, {r["product_id"] for r in rows.values() if r["product_id"] is not None}
        )
        ads = _existing(session, Creative.id, {r["ad_id"] for r in rows.values() if r["ad_id"] is not None})
        gone = erased(session, {r["user_id"] for r in rows.values()})
        for n, r in list(rows.items()):
            if r["user_id"] in gone:
                results[n] = EventResult(r["event_id"], "rejected", ERASED)
            elif r["product_id"] is not None and r["product_id"] not in products:
                results[n] = EventResult(r["event_id"], "rejected", f"unknown product {r['product_id']}")
            elif r["ad_id"] is not None and r["ad_id"] not in ads:
                results[n] = EventResult(r["event_id"], "rejected", f"unknown ad {r['ad_id']}")
            else:
                continue
            del rows[n]
        inserted = _insert_new(session, list(rows.values()))
        if on_new is not None:
            for r in sorted((r for r in rows.values() if r["event_id"] in inserted), key=lambda r: r["ts"]):
                on_new(session, Event(**r))
        users = {r["user_id"] for r in rows.values() if r["event_id"] in inserted}
        forget_derived(session, users)
    for n, r in rows.items():
        new = r["event_id"] in inserted
        results[n] = EventResult(
            r["event_id"], "accepted" if new else "duplicate", None if new else "already recorded"
        )
    return BatchOutcome([results[n] for n in range(len(events))], users)


@dataclass(frozen=True)
class ShopperSummary:
    """A shopper with recorded events: the stored id, how many events, the time of the latest."""

    user_id: str
    events: int
    last_event: datetime


def list_shoppers(session: Session, secret: SecretStr | None, limit: int = 20) -> list[ShopperSummary] | None:
    """The shoppers with the most events, most active first; None when ids are pseudonymised.

    Pseudonymised keys cannot be turned back into ids, so there is nothing to show then.
    """
    if secret is not None:
        return None
    count = func.count(Event.id)
    rows = session.execute(
        select(Event.user_id, count, func.max(Event.ts))
        .group_by(Event.user_id)
        .order_by(count.desc(), Event.user_id)
        .limit(limit)
    )
    return [ShopperSummary(u, n, t) for u, n, t in rows]


@dataclass
class ImportSummary:
    """Counts of an import and the reason for each rejected line."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    users: set[str] = field(default_factory=set)


def _int_or_none(text: str | None, what: str) -> int | None:
    """An optional integer column."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise EventError(f"{what} {text!r} is not an integer") from None


def unread_event_columns(path: Path) -> list[str]:
    """An events CSV's columns the import does not read (a misspelt `product_id` left every event without its
    product, without a word)."""
    return [n for n in csv_header(path) if n not in EVENT_COLUMNS]


def csv_events(path: Path) -> Iterator[tuple[int, EventIn | str]]:
    """(line number, event or the reason the line cannot be one) for each row of an events CSV."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise DataNotFoundError(f"no events file {path}") from e
    with fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames or []
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataFormatError(f"{path}: not a readable UTF-8 CSV file ({e})") from e
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise DataFormatError(
                f"{path}: missing column(s) {', '.join(missing)}; "
                f"expected {','.join(CSV_COLUMNS)}[,product_id,ad_id,session_id]"
            )
        try:
            for n, rec in enumerate(reader, start=2):
                try:
                    yield (
                        n,
                        EventIn(
                            rec["event_id"] or "",
                            rec["user_id"] or "",
                            (rec["type"] or "").strip(),
                            rec["timestamp"],
                            _int_or_none(rec.get("product_id"), "product_id"),
                            _int_or_none(rec.get("ad_id"), "ad_id"),
                            rec.get("session_id"),
                        ),
                    )
                except EventError as e:
                    yield n, str(e)
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataFormatError(f"{path}: not a readable UTF-8 CSV file ({e})") from e


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    secret: SecretStr | None = None,
    batch_size: int = MAX_BATCH,
    progress: Callable[[int], None] | None = None,
    on_new: Callable[[Session, Event], object] | None = None,
) -> ImportSummary:
    """Record every event of a CSV file in batches; re-importing the same file adds nothing (ids repeat);
    `on_new` as record_events' (ads count theirs there)."""
    summary = ImportSummary()
    batch: list[tuple[int, EventIn]] = []

    def flush() -> None:
        outcome = record_events(sessions, [e for _, e in batch], secret, on_new=on_new)
        for (line, _), r in zip(batch, outcome.results):
            if r.status == "rejected":
                summary.errors.append((line, r.reason or "rejected"))
        summary.accepted += outcome.count("accepted")
        summary.duplicates += outcome.count("duplicate")
        summary.rejected += outcome.count("rejected")
        summary.users |= outcome.users
        if progress:
            progress(len(batch))
        batch.clear()

    for line, item in csv_events(path):
        if isinstance(item, str):
            summary.rejected += 1
            summary.errors.append((line, item))
            continue
        batch.append((line, item))
        if len(batch) >= min(batch_size, MAX_BATCH):
            flush()
    if batch:
        flush()
    return summary
