"""The soak benchmark's traffic: a mix of the service's routes as shoppers, merchants and ad slots use them, a
record of every answer (route, status, latency, time), every write acknowledged with a 2xx, and the check that
those writes are still there."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import numpy as np
from PIL import Image

from shoplens.errors import ShopLensError

# Route mix (weights): what a shop front, its merchants and its ad slots send.
MIX = {
    "classify": 25,
    "products_create": 8,
    "products_list": 15,
    "events": 15,
    "recommendations": 10,
    "ads_select_click": 12,
    "search": 15,
}
READS = {**MIX, "products_create": 0, "events": 0}  # --reads-only: the catalogue and events do not grow
USERS = 500
REFUSALS = frozenset({503, 507})  # the answers a fault is meant to give (503 with Retry-After)
MAX_REQUESTS = 5_000_000  # every load loop ends by this count as well as by time


@dataclass(frozen=True)
class Answer:
    """One answer: when it came (monotonic s), its route, status (0: no answer), latency, Retry-After sent."""

    t: float
    route: str
    status: int
    ms: float
    retry_after: bool


@dataclass(frozen=True)
class Write:
    """A write the service acknowledged with a 2xx: kind (product, event, click), its key, when."""

    t: float
    kind: str
    key: str
    body: str  # what to send again to check it (events, clicks) or the sku (products)


@dataclass
class Record:
    """Every answer and acknowledged write of a run."""

    answers: list[Answer] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers that came in [start, end)."""
        return [a for a in self.answers if start <= a.t < end]


def shop_pngs(n: int = 2000) -> list[bytes]:
    """n distinct 28×28 product PNGs: Fashion-MNIST test images (inverted, shop style) if installed, else noise."""
    try:
        from shoplens.data import load_fashion_mnist

        pixels = 255 - load_fashion_mnist("test", verify=False).images[:n, 0]
    except ShopLensError:
        pixels = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    out = []
    for p in pixels:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(p)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


class Traffic:
    """Sends the mix; keeps the products it knows (seeded and created) and records answers and writes."""

    def __init__(
        self,
        keys: dict[str, str],
        images: Sequence[bytes],
        record: Record,
        mix: dict[str, int] = MIX,
        seed: int = 0,
    ) -> None:
        self.h = {role: {"X-API-Key": key} for role, key in keys.items()}
        self.images = images
        self.record = record
        self.rng = random.Random(seed)
        self.products: list[int] = []
        self.ids = itertools.count()
        self.run = f"{time.time_ns():x}"  # event ids and skus unique to this run
        self.routes, self.weights = list(mix), list(mix.values())

    def _note(self, t0: float, route: str, r: httpx.Response | None) -> None:
        status = r.status_code if r is not None else 0
        retry = r is not None and "retry-after" in r.headers
        self.record.answers.append(
            Answer(time.monotonic(), route, status, (time.monotonic() - t0) * 1000, retry)
        )

    async def _send(
        self, c: httpx.AsyncClient, route: str, method: str, url: str, **kw
    ) -> httpx.Response | None:
        t0 = time.monotonic()
        try:
            r = await c.request(method, url, **kw)
        except httpx.TransportError:
            r = None
        self._note(t0, route, r)
        return r

    def _image(self) -> bytes:
        return self.images[self.rng.randrange(len(self.images))]

    def _user(self) -> str:
        return f"shopper-{self.rng.randrange(USERS)}"

    async def one(self, c: httpx.AsyncClient) -> httpx.Response | None:
        """Send one request (two for an ad: select, then a click with its impression token); the last answer."""
        route = self.rng.choices(self.routes, self.weights)[0]
        return await getattr(self, route)(c)

    async def classify(self, c: httpx.AsyncClient) -> httpx.Response | None:
        files = {"file": ("p.png", self._image(), "image/png")}
        return await self._send(c, "classify", "POST", "/v1/classify", files=files, headers=self.h["reader"])

    async def products_create(self, c: httpx.AsyncClient) -> httpx.Response | None:
        """A new product (its own sku, a photo); acknowledged ones are remembered."""
        sku = f"{self.run}-{next(self.ids)}"
        form = {"product": json.dumps({"sku": sku, "title": f"Soak item {sku}", "stock": 3})}
        files = {"files": ("p.png", self._image(), "image/png")}
        r = await self._send(
            c, "products_create", "POST", "/v1/products", data=form, files=files, headers=self.h["merchant"]
        )
        if r is not None and r.is_success:
            self.products.append(r.json()["id"])
            self.record.writes.append(Write(time.monotonic(), "product", str(r.json()["id"]), sku))
        return r

    async def products_list(self, c: httpx.AsyncClient) -> httpx.Response | None:
        params = {"limit": 20, "offset": self.rng.randrange(50)}
        return await self._send(
            c, "products_list", "GET", "/v1/products", params=params, headers=self.h["reader"]
        )

    async def events(self, c: httpx.AsyncClient) -> httpx.Response | None:
        """Five views of known products by one shopper."""
        user, now = self._user(), datetime.now(UTC).isoformat()
        batch = [
            {
                "event_id": f"{self.run}-e{next(self.ids)}",
                "user_id": user,
                "type": "view",
                "timestamp": now,
                "product_id": self.rng.choice(self.products),
            }
            for _ in range(5)
        ]
        r = await self._send(
            c, "events", "POST", "/v1/events", json={"events": batch}, headers=self.h["reader"]
        )
        if r is not None and r.is_success:
            for e, res in zip(batch, r.json()["results"], strict=True):
                if res["status"] == "accepted":
                    self.record.writes.append(Write(time.monotonic(), "event", e["event_id"], json.dumps(e)))
        return r

    async def recommendations(self, c: httpx.AsyncClient) -> httpx.Response | None:
        url = f"/v1/users/{self._user()}/recommendations"
        return await self._send(c, "recommendations", "GET", url, params={"k": 8}, headers=self.h["reader"])

    async def ads_select_click(self, c: httpx.AsyncClient) -> httpx.Response | None:
        """An ad slot: select, and (one in three) a click on the first ad with its impression token."""
        user = self._user()
        params = {"user_id": user, "context_product_id": self.rng.choice(self.products)}
        r = await self._send(
            c, "ads_select", "GET", "/v1/ads/select", params=params, headers=self.h["reader"]
        )
        if r is None or r.status_code != 200 or not r.json()["ads"] or self.rng.random() > 1 / 3:
            return r
        ad = r.json()["ads"][0]
        body = {
            "event_id": f"{self.run}-c{next(self.ids)}",
            "user_id": user,
            "impression_token": ad["impression_token"],
        }
        url = f"/v1/ads/{ad['creative']['id']}/click"
        click = await self._send(c, "ads_click", "POST", url, json=body, headers=self.h["reader"])
        if click is not None and click.status_code == 201:
            self.record.writes.append(Write(time.monotonic(), "click", url, json.dumps(body)))
        return click

    async def search(self, c: httpx.AsyncClient) -> httpx.Response | None:
        files = {"file": ("q.png", self._image(), "image/png")}
        return await self._send(
            c, "search", "POST", "/v1/search/similar", params={"k": 8}, files=files, headers=self.h["reader"]
        )


async def drive(
    traffic: Traffic, base: str, clients: int, until: float, stop: asyncio.Event | None = None
) -> None:
    """`clients` closed-loop clients until the monotonic time `until` (or `stop`); a refusal's Retry-After (at most
    1 s) and a lost connection (0.2 s) are waited out before the next request."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:

        async def loop() -> None:
            while time.monotonic() < until and len(traffic.record.answers) < MAX_REQUESTS:
                if stop is not None and stop.is_set():
                    return
                r = await traffic.one(c)
                if r is None:
                    await asyncio.sleep(0.2)
                elif r.status_code in REFUSALS:
                    await asyncio.sleep(min(1.0, float(r.headers.get("retry-after", 1))))

        await asyncio.gather(*(loop() for _ in range(clients)))


async def lost_writes(base: str, keys: dict[str, str], writes: Sequence[Write]) -> list[Write]:
    """The acknowledged writes that are not there now (products by id and sku; events and clicks sent again,
    which a stored one answers as a repeat)."""
    reader = {"X-API-Key": keys["reader"]}
    lost: list[Write] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        for w in (w for w in writes if w.kind == "product"):
            r = await c.get(f"/v1/products/{w.key}", headers=reader)
            if r.status_code != 200 or r.json()["sku"] != w.body:
                lost.append(w)
        events = [w for w in writes if w.kind == "event"]
        for i in range(0, len(events), 1000):
            chunk = events[i : i + 1000]
            r = await c.post(
                "/v1/events", json={"events": [json.loads(w.body) for w in chunk]}, headers=reader
            )
            r.raise_for_status()
            lost += [
                w for w, res in zip(chunk, r.json()["results"], strict=True) if res["status"] != "duplicate"
            ]
        for w in (w for w in writes if w.kind == "click"):
            r = await c.post(w.key, json=json.loads(w.body), headers=reader)
            if r.status_code != 200:  # 201: it was recorded only now
                lost.append(w)
    return lost


def counts(answers: Sequence[Answer]) -> Counter[str]:
    """Status counts ('0' for no answer: the connection was refused or dropped)."""
    return Counter(str(a.status) for a in answers)
