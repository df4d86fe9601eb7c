"""The whole OpenAPI document, checked by schemathesis against a real server on 127.0.0.1.

Every operation gets generated requests — valid ones and invalid ones — each sent with the key of a drawn role
(or none): no answer may be a 5xx, every status must be one the document declares for the operation, every body
and header must match what is declared (errors: problem details), and invalid requests must be refused. Image
parts and base64 images are real photos. The server holds a small catalogue (products, a campaign with a
creative, shopper events) so that ids the generator draws reach real rows. Bounded: EXAMPLES per operation.

Not checked: that every schema-valid request is accepted. What the document cannot say — a photo that is not a
product, a timestamp in the future, a product's JSON in a form field, a budget past 12 digits — is refused
with a 4xx problem, as it should be. Nor, for multipart bodies, that invalid ones are refused: schemathesis
sent a "missing file" mutation of the image form with its file part in it (seen on POST /v1/search/duplicates).

Selected with `-m contract`; `make test` (and CI) runs it with everything else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from tests.support.bundles import NAME, make_bundle
from tests.support.images import encode, product_photo
from tests.support.live import LiveServer
from tests.support.service import settings_for

pytestmark = pytest.mark.contract
EXAMPLES = 25
ROLES = ("reader", "merchant", "admin")


def served_document(root: Path) -> dict[str, Any]:
    """The document the server serves once every router is in (no model needed to build it)."""
    app = create_app(settings_for(root / "models", root / "keys.json"))
    return TestClient(app).get("/openapi.json").json()


PHOTOS = [encode(product_photo((96 + 8 * i, 120)), fmt) for i, fmt in enumerate(("PNG", "JPEG", "WEBP"))]
schemathesis.openapi.media_type("image/png", st.sampled_from(PHOTOS))  # any format will do: it is sniffed
schemathesis.openapi.format("base64", st.sampled_from([base64.b64encode(p).decode() for p in PHOTOS]))
schema = schemathesis.openapi.from_dict(served_document(Path("/nonexistent/contract")))


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real server with a seeded catalogue; its base URL and a key per role."""
    root = tmp_path_factory.mktemp("contract")
    make_bundle(root / "models", "v1", seed=1)
    (root / "models" / NAME / "ACTIVE").write_text(
        "v1\n"
    )  # activated, as `shoplens models activate` leaves it
    store = KeyStore(root / "keys.json")
    keys = {role: store.create(role, merchant="acme" if role == "merchant" else None) for role in ROLES}
    app = create_app(settings_for(root / "models", root / "keys.json", max_upload_bytes=2**20))
    with LiveServer(app) as live:
        seed(live.base, keys)
        yield live.base, keys


def seed(base: str, keys: dict[str, str]) -> None:
    """Two products, a campaign with a creative, and a shopper's events."""
    merchant = {"X-API-Key": keys["merchant"]}
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(2):
            product = {"sku": f"sku-{i}", "title": f"Product {i}", "price": "9.99", "stock": 3}
            files = {"files": ("p.png", encode(product_photo((96 + i * 8, 120))), "image/png")}
            r = c.post("/v1/products", data={"product": json.dumps(product)}, files=files, headers=merchant)
            assert r.status_code == 201, r.text
        campaign = {"name": "spring", "budget": 100, "bid": 0.5}
        r = c.post("/v1/ads/campaigns", json=campaign, headers=merchant)
        assert r.status_code == 201, r.text
        files = {"file": ("ad.png", encode(product_photo()), "image/png")}
        path = f"/v1/ads/campaigns/{r.json()['id']}/creatives"
        r = c.post(path, data={"headline": "Hi"}, files=files, headers=merchant)
        assert r.status_code == 201, r.text
        events = [{"event_id": "e1", "user_id": "ann", "type": "view", "product_id": 1}]
        r = c.post("/v1/events", json={"events": events}, headers=merchant)
        assert r.status_code == 200, r.text


@schema.parametrize()
@schema.given(role=st.sampled_from((None, *ROLES)))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_keeps_its_contract(
    case: Any, role: str | None, contract_server: tuple[str, dict[str, str]]
) -> None:
    base, keys = contract_server
    headers = {"X-API-Key": keys[role]} if role else {}
    excluded = [positive_data_acceptance]
    if case.media_type == "multipart/form-data":  # a "missing file" mutation can go out with the file part
        excluded.append(negative_data_rejection)
    if any(isinstance(v, list) for v in (case.query or {}).values()):  # a single-valued parameter sent twice:
        excluded.append(negative_data_rejection)  # the last one counts and is validated (Starlette)
    case.call_and_validate(base_url=base, headers=headers, timeout=30, excluded_checks=excluded)
