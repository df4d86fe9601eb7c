"""Recommendations for a shopper, and products related to a product.

The candidate sources (see `candidates`) score every product; the blend is their weighted sum plus a trace of
the cold-start order as a filler. Purchased products and products that cannot be sold are excluded (stock and
status re-read from the database for the final pool). The best `k × pool` go through MMR — relevance against
visual similarity to what is already picked — so near-identical items do not fill the list. Each item carries
its reason, from the source that contributed most ("looks like X you viewed", "often viewed together with X").
A shopper without history gets trending products of trending categories (cold start). Results are cached per
(user, k) in `recommendation_cache` for `cache_ttl_s`, dropped when the shopper acts, re-checked on each hit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplens.catalog.behaviour import CachedRecommendation
from shoplens.catalog.models import Product, ProductImage, utcnow
from shoplens.catalog.service import Catalog
from shoplens.errors import NotFoundError
from shoplens.recommend import candidates as cand
from shoplens.recommend.profiles import Profile, ProfileConfig, load_profile, purchased
from shoplens.recommend.sql import as_utc, product_category, product_vectors
from shoplens.recommend.stats import ItemStats, StatsCache, StatsConfig

SOURCES = ("visual", "covis", "category", "trending")


@dataclass(frozen=True)
class RecommenderConfig:
    """Weights of the sources in the blend, and how candidates are gathered, diversified and cached."""

    visual: float = 1.0
    covis: float = 1.0
    category: float = 0.5
    trending: float = 0.1
    top_categories: int = 3
    seeds: int = 10  # recent products that seed co-visitation
    seed_decay: float = 0.8  # weight of the i-th newest seed: seed_decay ** i
    fetch: int = 200  # neighbours of the taste vector looked at
    pool: int = 5  # k × pool best-blended products (at least 50) go through MMR
    mmr_lambda: float = 0.9  # 1: relevance only; lower: more diverse
    seen_penalty: float = 0.5  # products the shopper recently interacted with count this much (1: no penalty)
    cache_ttl_s: float = 600.0

    def weight(self, source: str) -> float:
        """The blend weight of a source."""
        return float(getattr(self, source))


@dataclass(frozen=True)
class Recommendation:
    """A recommended product, its blended score, and why."""

    product_id: int
    title: str
    category: str | None
    price: float | None
    image_url: str | None
    score: float
    source: str
    reason: str


@dataclass(frozen=True)
class Recommendations:
    """The recommendations for a shopper, whether they are the cold-start kind, and whether they came cached."""

    user_id: str
    k: int
    items: list[Recommendation]
    cold_start: bool
    model_version: str | None
    generated_at: datetime
    cached: bool = False


@dataclass(frozen=True)
class _Info:
    """What is shown of a product, read fresh from the database."""

    title: str
    category: str | None
    price: float | None
    image_url: str | None
    available: bool


def _product_info(session: Session, ids: list[int]) -> dict[int, _Info]:
    """Title, category, price, first image and availability of these products."""
    if not ids:
        return {}
    first = (
        select(ProductImage.sha256).where(ProductImage.product_id == Product.id)
        .order_by(ProductImage.position, ProductImage.id).limit(1).scalar_subquery()
    )  # fmt: skip
    rows = session.execute(
        select(Product.id, Product.title, product_category(), Product.price, Product.stock, Product.status, first)
        .where(Product.id.in_(ids))
    )  # fmt: skip
    return {
        pid: _Info(title, cat, None if price is None else float(price), f"/v1/images/{sha}" if sha else None,
                   stock > 0 and status == "active")  # fmt: skip
        for pid, title, cat, price, stock, status, sha in rows
    }


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: indexes of k items, each maximising lam·rel − (1−lam)·max sim to those picked."""
    n = len(relevance)
    sims = vectors @ vectors.T
    picked: list[int] = []
    closest = np.zeros(n)
    free = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        gain = np.where(free, lam * relevance - (1 - lam) * closest, -np.inf)
        best = int(np.argmax(gain))
        picked.append(best)
        free[best] = False
        closest = np.maximum(closest, sims[best])
    return picked


class Recommender:
    """Blends the candidate sources for shoppers; shares one statistics snapshot between requests."""

    def __init__(
        self, catalog: Catalog, config: RecommenderConfig = RecommenderConfig(),
        profiles: ProfileConfig = ProfileConfig(), stats: StatsConfig = StatsConfig(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:  # fmt: skip
        self.catalog, self.config, self.profiles, self.clock = catalog, config, profiles, clock
        self.stats = StatsCache(catalog.sessions, clock, stats)

    def version(self) -> str | None:
        """The model version whose embeddings answer (the active index's)."""
        return self.catalog.space.active_version()

    def profile(self, user: str, use_cache: bool = True) -> Profile | None:
        """The shopper's profile (None without events)."""
        return load_profile(self.catalog.sessions, user, self.version(), self.profiles, self.clock(), use_cache)

    def _snapshot(self, product_ids: list[int]) -> ItemStats:
        """The statistics snapshot, rebuilt (rate-limited) when it does not know some of these products yet."""
        stats = self.stats.get()
        if product_ids and (stats.rows(product_ids) < 0).any():
            self.stats.mark_dirty()
            stats = self.stats.get()
        return stats

    def _visual(self, stats: ItemStats, query: np.ndarray | None) -> np.ndarray:
        """Visual scores for a query vector, from the active index."""
        version = self.version()
        if query is None or version is None:
            return np.zeros(len(stats))
        return cand.visual_scores(stats, self.catalog.space.index(version, query.size), query, self.config.fetch)

    def _scores(self, stats: ItemStats, profile: Profile) -> dict[str, np.ndarray]:
        """Each weighted source's scores for this shopper (sources with weight 0 are skipped)."""
        cfg, out = self.config, {}
        if cfg.visual:
            out["visual"] = self._visual(stats, profile.taste)
        if cfg.covis:
            out["covis"] = cand.covis_scores(stats, *cand.seed_weights(stats, profile.recent, cfg.seeds, cfg.seed_decay))
        if cfg.category:
            out["category"] = cand.category_scores(stats, profile.top_categories(cfg.top_categories))
        if cfg.trending:
            out["trending"] = cand.trending_scores(stats)
        return out

    def recommend(self, user: str, k: int = 10, use_cache: bool = True) -> Recommendations:
        """Up to k products for a shopper (by stored user key), best first, each with its reason."""
        if use_cache and (hit := self._cached(user, k)) is not None:
            return hit
        profile = self.profile(user, use_cache)
        stats = self._snapshot(profile.recent if profile else [])
        scores = self._scores(stats, profile) if profile else {}
        cold = not any(s.any() for s in scores.values())
        weights = {src: self.config.weight(src) for src in scores}
        if cold:
            scores, weights = {"trending": cand.cold_start_scores(stats, self.config.top_categories)}, {"trending": 1.0}
        blend = sum((weights[s] * scores[s] for s in scores), np.zeros(len(stats)))
        blend += 1e-3 * cand.cold_start_scores(stats, self.config.top_categories)  # filler for thin profiles
        if profile is not None:
            seen = stats.rows(profile.recent)
            blend[seen[seen >= 0]] *= self.config.seen_penalty
        with self.catalog.sessions() as session:
            bought = purchased(session, user)
        blend[~stats.available] = -np.inf
        bought_rows = stats.rows(sorted(bought))
        blend[bought_rows[bought_rows >= 0]] = -np.inf
        items = self._pick(stats, blend, scores, weights, profile, k)
        result = Recommendations(user, k, items, cold, self.version(), self.clock())
        if use_cache:
            self._store(result)
        return result

    def _pick(
        self, stats: ItemStats, blend: np.ndarray, scores: dict[str, np.ndarray], weights: dict[str, float],
        profile: Profile | None, k: int,
    ) -> list[Recommendation]:  # fmt: skip
        """The k products to show: best pool, re-checked in the database, diversified, explained."""
        size = min(max(k * self.config.pool, 50), int(np.isfinite(blend).sum()))
        pool = np.argpartition(-blend, size - 1)[:size] if size else np.zeros(0, dtype=np.int64)
        pool = pool[np.argsort(-blend[pool], kind="stable")]
        recent = profile.recent[: self.config.seeds] if profile else []
        ids = [int(p) for p in stats.product_ids[pool]]
        version = self.version()
        with self.catalog.sessions() as session:
            info = _product_info(session, ids + recent)
            vectors = product_vectors(session, ids + recent, version) if version else {}
        keep = [i for i, pid in enumerate(ids) if pid in info and info[pid].available]
        pool, ids = pool[keep], [ids[i] for i in keep]
        if not len(pool):
            return []
        dim = next(iter(vectors.values())).size if vectors else 1
        mat = np.stack([vectors.get(pid, np.zeros(dim, np.float32)) for pid in ids])
        chosen = mmr(cand.scaled(blend[pool] - blend[pool].min() + 1e-9), mat, k, self.config.mmr_lambda)
        explain = _Explainer(stats, scores, weights, info, vectors, self.config, recent)
        return [explain(int(pool[i]), ids[i], float(blend[pool[i]])) for i in chosen]

    def _cached(self, user: str, k: int) -> Recommendations | None:
        """A cached answer still within its TTL whose products can all still be sold."""
        with self.catalog.sessions() as session:
            row = session.get(CachedRecommendation, (user, k))
            if row is None or (self.clock() - as_utc(row.created_at)).total_seconds() > self.config.cache_ttl_s:
                return None
            data = json.loads(row.payload)
            items = [Recommendation(**i) for i in data["items"]]
            info = _product_info(session, [i.product_id for i in items])
        if not all(i.product_id in info and info[i.product_id].available for i in items):
            return None
        return Recommendations(user, k, items, data["cold_start"], data["model_version"], as_utc(row.created_at), True)

    def _store(self, rec: Recommendations) -> None:
        """Cache an answer (a concurrent request that stored first wins)."""
        payload = {"items": [asdict(i) for i in rec.items], "cold_start": rec.cold_start, "model_version": rec.model_version}
        try:
            with self.catalog.sessions.begin() as session:
                session.merge(CachedRecommendation(user_id=rec.user_id, k=rec.k, payload=json.dumps(payload),
                                                   created_at=rec.generated_at))  # fmt: skip
        except IntegrityError:
            pass

    def related(self, product_id: int, k: int = 10) -> list[Recommendation]:
        """Products visually similar to this one and viewed together with it, best first."""
        version = self.version()
        with self.catalog.sessions() as session:
            if session.get(Product, product_id) is None:
                raise NotFoundError(f"no product {product_id}")
            vector = product_vectors(session, [product_id], version).get(product_id) if version else None
        stats = self._snapshot([product_id])
        (row,) = stats.rows([product_id])
        scores = {"visual": self._visual(stats, vector)}
        scores["covis"] = cand.covis_scores(stats, np.array([row]), np.ones(1)) if row >= 0 else np.zeros(len(stats))
        weights = {"visual": self.config.visual or 1.0, "covis": self.config.covis or 1.0}
        blend = weights["visual"] * scores["visual"] + weights["covis"] * scores["covis"]
        blend[(blend <= 0) | ~stats.available] = -np.inf
        if row >= 0:
            blend[row] = -np.inf
        return self._pick(stats, blend, scores, weights, None, k)


class _Explainer:
    """Turns a picked product into a Recommendation with the reason of its strongest source."""

    def __init__(self, stats: ItemStats, scores: dict[str, np.ndarray], weights: dict[str, float], info: dict[int, _Info],
                 vectors: dict[int, np.ndarray], config: RecommenderConfig, recent: list[int]) -> None:  # fmt: skip
        self.stats, self.scores, self.weights, self.info, self.vectors = stats, scores, weights, info, vectors
        self.seen = set(recent)
        self.recent = [p for p in recent if p in vectors]
        self.recent_mat = np.stack([vectors[p] for p in self.recent]) if self.recent else None
        self.seed_rows, self.seed_w = cand.seed_weights(stats, recent, config.seeds, config.seed_decay)
        self.for_shopper = bool(recent)

    def __call__(self, row: int, product_id: int, score: float) -> Recommendation:
        parts = {s: self.weights[s] * float(self.scores[s][row]) for s in self.scores}
        source = max(parts, key=lambda s: parts[s]) if parts and max(parts.values()) > 0 else "trending"
        info = self.info[product_id]
        return Recommendation(product_id, info.title, info.category, info.price, info.image_url, round(score, 6),
                              source, self._reason(source, row, product_id, info))  # fmt: skip

    def _title(self, product_id: int) -> str:
        return self.info[product_id].title if product_id in self.info else f"product {product_id}"

    def _reason(self, source: str, row: int, product_id: int, info: _Info) -> str:
        """Why this product is here, in words."""
        if product_id in self.seen:
            return "you viewed it recently"
        if source == "visual":
            if not self.for_shopper:
                return "looks similar"
            if self.recent_mat is None or product_id not in self.vectors:
                return "matches your visual taste"
            anchor = self.recent[int(np.argmax(self.recent_mat @ self.vectors[product_id]))]  # the most alike
            return f"looks like {self._title(anchor)} you viewed"
        if source == "covis":
            if not self.for_shopper or not len(self.seed_rows):
                return "often viewed together"
            shared = self.stats.covis[self.seed_rows][:, [row]].toarray().ravel() * self.seed_w
            anchor = int(self.stats.product_ids[self.seed_rows[int(np.argmax(shared))]])
            return f"often viewed together with {self._title(anchor)}"
        category = info.category or "the catalogue"
        if source == "category":
            return f"popular in {category}, a category you like"
        if self.stats.trending[row] > 0:
            return f"trending in {category}"
        return f"popular in {category}" if self.stats.popularity[row] > 0 else f"new in {category}"
