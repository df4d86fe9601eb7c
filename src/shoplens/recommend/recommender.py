"""Recommendations for a shopper, and products related to a product.

The candidate sources (see `candidates`) score every product as log-scale evidence; the blend is their weighted
sum — a log-linear model, so a product must do well on several sources — plus a trace of the cold-start order
as a tie-breaker. Purchased products and products that cannot be sold are excluded (stock and
status re-read from the database for the final pool). The best `k × pool` go through MMR — relevance against
visual similarity to what is already picked — so near-identical items do not fill the list. Each item carries
its reason, from the source that contributed most ("looks like X you viewed", "often viewed together with X").
A shopper without history gets trending products of trending categories (cold start). Results are cached per
(user, k) for `cache_ttl_s` (`cache`); what is shown of a product and the reasons are `items` and `explain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from shoplens.behaviour.profiles import (
    Profile,
    ProfileConfig,
    load_profile,
    purchased,
    read_profile,
    store_profile,
    touched,
)
from shoplens.catalog.queries import product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.base import utcnow
from shoplens.db.catalog import Product
from shoplens.errors import NotFoundError
from shoplens.recommend import candidates as cand
from shoplens.recommend.cache import read_cached, store_cached
from shoplens.recommend.explain import Context, explain
from shoplens.recommend.items import Recommendation, Recommendations, product_info
from shoplens.recommend.stats import ItemStats, StatsCache, StatsConfig

__all__ = ["SOURCES", "Recommendation", "Recommendations", "Recommender", "RecommenderConfig", "mmr"]

SOURCES = ("visual", "covis", "category", "trending")


@dataclass(frozen=True)
class RecommenderConfig:
    """Weights of the sources in the blend, and how candidates are gathered, diversified and cached.

    The weights were chosen on the simulator (`simulate`) with validation seeds 100 and 101 on the 10k demo
    catalogue — not the seeds the benchmark reports; HR@10 was flat (±0.005) for visual 20–30 and covis 0.5–1.
    """

    visual: float = 20.0  # per unit of cosine similarity
    covis: float = 1.0  # per unit of log(1 + shared sessions)
    category: float = 1.0  # per unit of log category share and log popularity
    trending: float = 0.0  # per unit of log(1 + trend); cold start uses trends regardless
    top_categories: int = 3
    seeds: int = 10  # recent products that seed co-visitation
    seed_decay: float = 0.8  # weight of the i-th newest seed: seed_decay ** i
    fetch: int = 1000  # neighbours of the taste vector looked at
    pool: int = 3  # k × pool best-blended products (at least 30) go through MMR
    mmr_lambda: float = 0.9  # 1: relevance only; lower: more diverse
    seen_penalty: float = (
        1.0  # < 1 demotes products the shopper recently viewed (shoppers do come back to them)
    )
    cache_ttl_s: float = 600.0

    def weight(self, source: str) -> float:
        """The blend weight of a source."""
        return float(getattr(self, source))


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
        self,
        catalog: Catalog,
        config: RecommenderConfig = RecommenderConfig(),
        profiles: ProfileConfig = ProfileConfig(),
        stats: StatsConfig = StatsConfig(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalog, self.config, self.profiles, self.clock = catalog, config, profiles, clock
        self.stats = StatsCache(catalog.sessions, clock, stats)

    def version(self) -> str | None:
        """The model version whose embeddings answer (the active index's)."""
        return self.catalog.space.active_version()

    def profile(self, user: str, use_cache: bool = True) -> Profile | None:
        """The shopper's profile (None without events)."""
        return load_profile(
            self.catalog.sessions, user, self.version(), self.profiles, self.clock(), use_cache
        )

    def _snapshot(self, product_ids: list[int]) -> ItemStats:
        """The statistics snapshot, rebuilt (rate-limited) when it does not know some of these products yet."""
        stats = self.stats.get()
        if product_ids and (stats.rows(product_ids) < 0).any():
            self.stats.mark_dirty()
            stats = self.stats.get()
        return stats

    def _visual(self, stats: ItemStats, queries: list[np.ndarray], version: str | None) -> np.ndarray:
        """Visual scores for query vectors, from the index of `version`."""
        if not queries or version is None:
            return np.zeros(len(stats))
        index = self.catalog.space.index(version, queries[0].size)
        return cand.visual_scores(stats, index, np.stack(queries), self.config.fetch)

    def _scores(self, stats: ItemStats, profile: Profile, version: str | None) -> dict[str, np.ndarray]:
        """Each weighted source's scores for this shopper (sources with weight 0 are skipped)."""
        cfg, out = self.config, {}
        if cfg.visual:
            out["visual"] = self._visual(stats, [profile.taste] if profile.taste is not None else [], version)
        if cfg.covis:
            out["covis"] = cand.covis_scores(
                stats, *cand.seed_weights(stats, profile.recent, cfg.seeds, cfg.seed_decay)
            )
        if cfg.category:
            out["category"] = cand.category_scores(stats, profile.top_categories(cfg.top_categories))
        if cfg.trending:
            out["trending"] = cand.trending_scores(stats)
        return out

    def recommend(
        self, user: str, k: int = 10, use_cache: bool = True, hide_touched: bool = False
    ) -> Recommendations:
        """Up to k products for a shopper (by stored user key), best first, each with its reason; hide_touched:
        none the shopper has an event of (for a caller who may not learn what they viewed; such answers are not
        cached)."""
        keep = use_cache and not hide_touched  # the recommendations cache; the profile's is used either way
        if keep:
            hit = read_cached(self.catalog.sessions, user, k, self.clock(), self.config.cache_ttl_s)
            if hit is not None:
                return hit
        version, now = self.version(), self.clock()
        with self.catalog.sessions() as session:  # one read session for the whole request
            profile, computed = read_profile(session, user, version, self.profiles, now, use_cache)
            stats = self._snapshot(profile.recent if profile else [])
            scores = self._scores(stats, profile, version) if profile else {}
            cold = not any(s.any() for s in scores.values())
            weights = {src: self.config.weight(src) for src in scores}
            filler = cand.cold_start_scores(stats, self.config.top_categories)
            if cold:
                scores, weights = {"trending": filler}, {"trending": 1.0}
            blend = sum(
                (weights[s] * scores[s] for s in scores), 1e-3 * filler
            )  # the filler orders what is left
            self._exclude(blend, stats, profile, (touched if hide_touched else purchased)(session, user))
            recent = profile.recent if profile else []
            liked = (
                frozenset(c for c, _ in profile.top_categories(self.config.top_categories))
                if profile
                else frozenset()
            )
            items = self._pick(session, version, stats, blend, scores, weights, recent, k, liked)
        if profile is not None and computed and use_cache:
            store_profile(self.catalog.sessions, profile)
        result = Recommendations(user, k, items, cold, version, now)
        if keep and profile is not None:  # a shopper without events (unknown, erased) leaves no row
            store_cached(self.catalog.sessions, result, self.config.cache_ttl_s)
        return result

    def _exclude(
        self, blend: np.ndarray, stats: ItemStats, profile: Profile | None, hidden: set[int]
    ) -> None:
        """In place: what cannot be sold or is hidden (bought) goes (-inf); what was recently seen counts
        seen_penalty."""
        if profile is not None and self.config.seen_penalty != 1.0:
            seen = stats.rows(profile.recent)
            blend[seen[seen >= 0]] *= self.config.seen_penalty
        blend[~stats.available] = -np.inf
        rows = stats.rows(sorted(hidden))
        blend[rows[rows >= 0]] = -np.inf

    def _pick(
        self,
        session: Session,
        version: str | None,
        stats: ItemStats,
        blend: np.ndarray,
        scores: dict[str, np.ndarray],
        weights: dict[str, float],
        recent: list[int],
        k: int,
        liked: frozenset[str] = frozenset(),
    ) -> list[Recommendation]:
        """The k products to show: best pool, re-checked in the database, diversified, explained."""
        size = min(max(k * self.config.pool, 30), int(np.isfinite(blend).sum()))
        pool = np.argpartition(-blend, size - 1)[:size] if size else np.zeros(0, dtype=np.int64)
        pool = pool[np.argsort(-blend[pool], kind="stable")]
        ids = [int(p) for p in stats.product_ids[pool]]
        info = product_info(session, ids + recent)
        vectors = product_vectors(session, version, ids + recent) if version else {}
        keep = [i for i, pid in enumerate(ids) if pid in info and info[pid].available]
        pool, ids = pool[keep], [ids[i] for i in keep]
        if not len(pool):
            return []
        dim = next(iter(vectors.values())).size if vectors else 1
        mat = np.stack([vectors.get(pid, np.zeros(dim, np.float32)) for pid in ids])
        chosen = mmr(cand.scaled(blend[pool] - blend[pool].min() + 1e-9), mat, k, self.config.mmr_lambda)
        seeds = cand.seed_weights(stats, recent, self.config.seeds, self.config.seed_decay)
        context = Context(stats, scores, weights, info, vectors, recent, liked, *seeds)
        return explain(context, pool, pool[chosen], [ids[i] for i in chosen], blend[pool[chosen]])

    def related(self, product_id: int, k: int = 10) -> list[Recommendation]:
        """Products visually similar to this one and viewed together with it, best first."""
        version = self.version()
        with self.catalog.sessions() as session:
            if session.get(Product, product_id) is None:
                raise NotFoundError(f"no product {product_id}")
            vector = product_vectors(session, version, [product_id]).get(product_id) if version else None
        stats = self._snapshot([product_id])
        (row,) = stats.rows([product_id])
        scores = {"visual": self._visual(stats, [vector] if vector is not None else [], version)}
        scores["covis"] = (
            cand.covis_scores(stats, np.array([row]), np.ones(1)) if row >= 0 else np.zeros(len(stats))
        )
        weights = {"visual": self.config.visual or 1.0, "covis": self.config.covis or 1.0}
        blend = weights["visual"] * scores["visual"] + weights["covis"] * scores["covis"]
        blend[(blend <= 0) | ~stats.available] = -np.inf
        if row >= 0:
            blend[row] = -np.inf
        with self.catalog.sessions() as session:
            return self._pick(session, version, stats, blend, scores, weights, [], k)
