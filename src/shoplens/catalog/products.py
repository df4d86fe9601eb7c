"""Product operations that the API and the CLI share: create one (idempotently), delete one with its index entries.

Creating a product is ingesting one item. With an idempotency key the first answer is kept (`idempotency_keys`):
the same key with the same request gets that answer again, the same key with another request is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.queries import check_owner, get_product
from shoplens.catalog.service import Catalog
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


def create_product(
    catalog: Catalog,
    item: IngestItem,
    render: Callable[[Product], dict[str, Any]],
    idempotency: IdempotencyKey | None = None,
) -> Created:
    """Ingest a product with its images and render it; with a key, the first answer is kept and given again."""
    if idempotency is not None and (stored := _replay(catalog, idempotency)) is not None:
        return stored
    (outcome,) = catalog.ingestor().ingest([item])
    if outcome.status == "failed":
        assert outcome.exception is not None
        raise outcome.exception
    assert outcome.product_id is not None
    with catalog.sessions() as session:
        answer = Created(outcome.status == "done", render(get_product(session, outcome.product_id)))
    if idempotency is not None:
        _remember(catalog, idempotency, answer)
    return answer


def _replay(catalog: Catalog, idem: IdempotencyKey) -> Created | None:
    """The answer kept for this key, or None; ConflictError when the key came with another request."""
    with catalog.sessions() as session:
        rec = session.get(IdempotencyRecord, (idem.owner, idem.key))
    if rec is None:
        return None
    if rec.request_hash != idem.digest:
        raise ConflictError("this Idempotency-Key was used for a different request")
    return Created(rec.status_code == 201, json.loads(rec.response), replayed=True)


def _remember(catalog: Catalog, idem: IdempotencyKey, answer: Created) -> None:
    """Keep the answer for an idempotency key (a concurrent twin that stored first wins)."""
    try:
        with catalog.sessions.begin() as session:
            session.add(
                IdempotencyRecord(
                    owner=idem.owner,
                    key=idem.key,
                    request_hash=idem.digest,
                    status_code=201 if answer.created else 200,
                    response=json.dumps(answer.payload),
                )
            )
    except IntegrityError:
        pass


def delete_product(catalog: Catalog, product_id: int, merchant: str | None = None) -> list[int]:
    """Delete a product (only `merchant`'s, when given) with its images, embeddings and vector-index entries.

    Returns the ids of the images that went.
    """
    with catalog.sessions.begin() as session:
        product = get_product(session, product_id)
        check_owner(product, merchant)
        ids = [img.id for img in product.images]
        if ids:
            session.execute(delete(Embedding).where(Embedding.image_id.in_(ids)))
        session.delete(product)  # its images go with it (cascade)
    catalog.space.remove(np.array(ids, dtype=np.int64))
    return ids
