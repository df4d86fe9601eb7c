"""Product operations the API and the CLI share, on both backends: idempotent create, delete with index entries,
merchant listing; and the one model path (`Catalog.embed`) every model call of the catalogue and ads takes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from shoplens.ads.campaigns import CampaignIn, add_creative, create_campaign
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.products import IdempotencyKey, create_product, delete_product, request_digest
from shoplens.catalog.queries import ProductFilter, duplicates_of, get_product, list_merchants, list_products
from shoplens.catalog.service import Catalog
from shoplens.catalog.similar import find_duplicates, find_similar
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.errors import ConflictError, ForbiddenError
from tests.support.bundles import DIM
from tests.support.images import photos, png
from tests.support.vectors import vector_backends

PHOTOS = photos(4, seed=11)


def render(product: Product) -> dict[str, Any]:
    """What a caller shows of a product."""
    return {"id": product.id, "sku": product.sku, "images": len(product.images)}


def item(sku: str, image: bytes, merchant: str = "acme") -> IngestItem:
    """A product with one image."""
    return IngestItem(sku, ProductIn(merchant, sku, f"Product {sku}"), [image])


def test_create_keeps_the_first_answer_for_a_key(catalog: Catalog) -> None:
    data = png(PHOTOS[0])
    key = IdempotencyKey("key-1", "k", request_digest('{"sku": "a"}', [data]))
    first = create_product(catalog, item("a", data), render, key)
    assert first.created and not first.replayed and first.payload["sku"] == "a"
    again = create_product(catalog, item("a", data), render, key)
    assert again.replayed and again.created and again.payload == first.payload
    other = IdempotencyKey("key-1", "k", request_digest('{"sku": "b"}', [png(PHOTOS[1])]))
    with pytest.raises(ConflictError):
        create_product(catalog, item("b", png(PHOTOS[1])), render, other)
    theirs = IdempotencyKey("key-2", "k", other.digest)  # the same key of another owner is another key
    assert create_product(catalog, item("b", png(PHOTOS[1])), render, theirs).created
    without = create_product(catalog, item("a", data), render)  # no key: already there, not created
    assert not without.created and not without.replayed and without.payload == first.payload
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 2


@pytest.mark.parametrize("vector_backend", vector_backends())
def test_delete_takes_the_rows_and_the_index_entries(catalog: Catalog) -> None:
    mine, theirs = (
        create_product(catalog, item(sku, png(p), merchant), render)
        for sku, p, merchant in (("a", PHOTOS[0], "acme"), ("b", PHOTOS[1], "globex"))
    )
    index = catalog.space.index("v1", DIM)
    assert len(index) == 2
    with pytest.raises(ForbiddenError):
        delete_product(catalog, theirs.payload["id"], merchant="acme")
    gone = delete_product(catalog, mine.payload["id"], merchant="acme")
    assert len(gone) == 1 and not np.isin(gone, index.ids()).any() and len(index) == 1
    with catalog.sessions() as s:
        assert s.scalars(select(Product.sku)).all() == ["b"]
        assert s.scalar(select(func.count()).select_from(Embedding)) == 1
    assert [(m.id, m.products) for m in list_merchants_of(catalog)] == [("acme", 0), ("globex", 1)]


def test_deleting_a_duplicate_leaves_its_partners_unflagged_only_when_no_other_product_is_left(
    catalog: Catalog,
) -> None:
    data = png(PHOTOS[2])  # the same photo under three merchants' products
    a, b, c = (create_product(catalog, item("x", data, m), render).payload["id"] for m in ("m1", "m2", "m3"))

    def groups() -> dict[int, int | None]:
        with catalog.sessions() as s:
            return dict(s.execute(select(ProductImage.product_id, ProductImage.duplicate_group)).all())

    assert len(set(groups().values())) == 1 and None not in groups().values()
    delete_product(catalog, b)
    assert groups()[a] is not None and groups()[a] == groups()[c]  # two products still show it
    delete_product(catalog, c)
    assert groups() == {a: None}  # alone: no longer a duplicate
    with catalog.sessions() as s:
        assert duplicates_of(s, get_product(s, a)) == []


def list_merchants_of(catalog: Catalog) -> list:  # type: ignore[type-arg]
    """The merchant listing of the catalogue."""
    with catalog.sessions() as s:
        return list_merchants(s)


def test_every_model_call_goes_through_catalog_embed(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    embed = catalog.embed

    def counted(images: list, read: Any = None) -> Any:  # type: ignore[type-arg]
        calls.append(len(images))
        return embed(images, read)

    monkeypatch.setattr(catalog, "embed", counted)
    catalog.ingestor().ingest([item(f"p{i}", png(p)) for i, p in enumerate(PHOTOS[:3])])  # one batch
    assert calls == [3]
    found = find_similar(catalog, photo=png(PHOTOS[0]), k=2)
    assert calls == [3, 1] and found.hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert find_similar(catalog, product_id=found.hits[0].product.id).hits  # a stored vector: no model call
    assert calls == [3, 1]
    assert [h.product.sku for h in find_duplicates(catalog, png(PHOTOS[1])).hits] == ["p1"]
    assert calls == [3, 1, 1]
    with catalog.sessions.begin() as s:
        campaign = create_campaign(
            s, CampaignIn("acme", "c", Decimal(10), Decimal(1)), catalog.categories()
        ).id
    add_creative(catalog, campaign, "Buy", png(PHOTOS[3]))
    assert calls == [3, 1, 1, 1]


@pytest.mark.parametrize("deleted_by", ["this process", "another process"])
def test_duplicates_follow_a_deleted_product_and_the_next_one(catalog: Catalog, deleted_by: str) -> None:
    gone, kept = PHOTOS[0], PHOTOS[1]
    find_duplicates(catalog, png(kept))  # the duplicate check's data is loaded, as in a running server
    z = create_product(catalog, item("z", png(gone)), render).payload
    find_duplicates(catalog, png(kept))
    if deleted_by == "this process":
        delete_product(catalog, z["id"])
    else:  # `shoplens catalog delete` beside a running server
        other = Catalog(catalog.config, catalog.models)
        delete_product(other, z["id"])
        other.close()
    a = create_product(catalog, item("a", png(kept)), render).payload
    assert [h.product.sku for h in find_duplicates(catalog, png(kept)).hits] == ["a"]
    assert find_duplicates(catalog, png(gone)).hits == []  # (it named a, which shows another photo)
    assert a["id"] > z["id"]  # never z's id again (SQLite gave it before migration 0008)


def test_the_text_filter_ignores_case_in_every_script(catalog: Catalog) -> None:
    declared = ProductIn("acme", "e1", "ÉLAN Überjacke", brand="Øster")
    catalog.ingestor().ingest([IngestItem("e1", declared, [png(PHOTOS[2])])])
    with catalog.sessions() as s:
        for q in ("ÉLAN", "élan", "überjacke", "ØSTER", "øster", "LAN"):  # SQLite's lower() found only "LAN"
            total, page = list_products(s, ProductFilter(q=q))
            assert total == 1 and page[0].sku == "e1", q
        assert list_products(s, ProductFilter(q="elan"))[0] == 0  # folded, not stripped of accents
