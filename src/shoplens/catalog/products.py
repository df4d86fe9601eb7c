"""Product operations that the API and the CLI share: create one (idempotently), delete one with its index entries.

Creating a product is ingesting one item. With an idempotency key the first answer is kept (`idempotency_keys`):
the same key with the same request gets that answer again, the same key with another request is a conflict.
The key is reserved before the product is stored, so concurrent requests with one key create one product.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from shoplens.catalog.duplicates import dissolve_lone_groups
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.queries import check_owner, get_product
from shoplens.catalog.service import Catalog
from shoplens.db.base import utcnow
from shoplens.db.catalog import Embedding, IdempotencyRecord, Product
from shoplens.errors import ConflictError


@dataclass(frozen=True)
class IdempotencyKey:
    """Who sent a request, the key they gave it, and a digest of what was asked (`request_digest`)."""

    owner: str
    key: str
    digest: str


@dataclass(frozen=True)
class Created:
    """The answer to a create: new or changed (else already there), its rendering, and whether it is replayed.

    A replayed answer is the one given the first time its idempotency key came.
    """

    created: bool
    payload: dict[str, Any]
    replayed: bool = False


def request_digest(declared: str, images: Sequence[bytes]) -> str:
    """A digest of a create request (the declared product as text and its images), to tell a retry from another."""
    h = hashlib.sha256(declared.encode())
    for data in images:
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


PENDING = 0  # status_code of a reserved key whose request is still being served
STALE_RESERVATION = timedelta(minutes=10)  # a reservation older than this (its server died) may be taken over


def create_product(
    catalog: Catalog,
    item: IngestItem,
    render: Callable[[Product], dict[str, Any]],
    idempotency: IdempotencyKey | None = None,
) -> Created:
    """Ingest a product with its images and render it; with a key, the first answer is kept and given again.

    The key is reserved (a unique row) before anything is stored, so of concurrent requests with one key exactly
    one is served; the others get its answer once it is kept, or a ConflictError while it is being served.
    """
    if idempotency is not None and (stored := _reserve(catalog, idempotency)) is not None:
        return stored
    try:
        (outcome,) = catalog.ingestor().ingest([item])
        if outcome.status == "failed":
            assert outcome.exception is not None
            raise outcome.exception
        assert outcome.product_id is not None
        with catalog.sessions() as session:
            answer = Created(outcome.status == "done", render(get_product(session, outcome.product_id)))
    except BaseException:
        if idempotency is not None:
            _release(catalog, idempotency)  # a failed request keeps no answer: a retry is served afresh
        raise
    if idempotency is not None:
        _remember(catalog, idempotency, answer)
    return answer


def _reserve(catalog: Catalog, idem: IdempotencyKey) -> Created | None:
    """Reserve the key for this request (None), or the answer kept for it; ConflictError for another request.

    The insert of the key's row is the atomic step: on SQLite and PostgreSQL alike, of concurrent inserts of one
    key exactly one commits.
    """
    try:
        with catalog.sessions.begin() as session:
            session.add(_record(idem, PENDING, ""))
        return None
    except IntegrityError:
        pass
    with catalog.sessions.begin() as session:
        rec = session.get(IdempotencyRecord, (idem.owner, idem.key))
        if rec is None:  # released in between: the caller may simply retry
            raise ConflictError("a request with this Idempotency-Key has just failed; retry it")
        if rec.request_hash != idem.digest:
            raise ConflictError("this Idempotency-Key was used for a different request")
        if rec.status_code != PENDING:
            return Created(rec.status_code == 201, json.loads(rec.response), replayed=True)
        taken = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.owner == idem.owner,
                IdempotencyRecord.key == idem.key,
                IdempotencyRecord.status_code == PENDING,
                IdempotencyRecord.created_at < utcnow() - STALE_RESERVATION,
            )
            .values(created_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return None
    raise ConflictError("a request with this Idempotency-Key is still being served; retry later")


def _record(idem: IdempotencyKey, status_code: int, response: str) -> IdempotencyRecord:
    """The row of an idempotency key."""
    return IdempotencyRecord(
        owner=idem.owner, key=idem.key, request_hash=idem.digest, status_code=status_code, response=response
    )


def _release(catalog: Catalog, idem: IdempotencyKey) -> None:
    """Drop this request's reservation of its key."""
    with catalog.sessions.begin() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.owner == idem.owner,
                IdempotencyRecord.key == idem.key,
                IdempotencyRecord.status_code == PENDING,
            )
        )


def _remember(catalog: Catalog, idem: IdempotencyKey, answer: Created) -> None:
    """Keep the answer in the key's reserved row."""
    with catalog.sessions.begin() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.owner == idem.owner, IdempotencyRecord.key == idem.key)
            .values(status_code=201 if answer.created else 200, response=json.dumps(answer.payload))
        )


def delete_product(catalog: Catalog, product_id: int, merchant: str | None = None) -> list[int]:
    """Delete a product (only `merchant`'s, when given) with its images, embeddings and vector-index entries.

    Returns the ids of the images that went.
    """
    with catalog.sessions.begin() as session:
        product = get_product(session, product_id)
        check_owner(product, merchant)
        ids = [img.id for img in product.images]
        groups = {img.duplicate_group for img in product.images if img.duplicate_group is not None}
        if ids:
            session.execute(delete(Embedding).where(Embedding.image_id.in_(ids)))
        session.delete(product)  # its images go with it (cascade)
        session.flush()
        dissolve_lone_groups(session, groups)  # a partner left alone is no duplicate any more
    gone = np.array(ids, dtype=np.int64)
    catalog.space.remove(gone)
    catalog.forget_duplicates(gone)
    return ids
