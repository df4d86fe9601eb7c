"""Offline evaluation of recommendations: simulated shoppers on a real catalogue, a split in time, HR/NDCG/coverage.

The simulated world (its assumptions, on purpose few and stated):
- **Products** are the catalogue's, seen through its model: each product's embedding (first image, the active
  model version), its category (declared, else predicted), whether it can be sold. Every product also gets a
  hidden *appeal*, log-normal with spread `appeal_sd`, shared by all shoppers (some products are simply liked).
- **Shoppers** have hidden tastes: 1 to `favourite_categories` favourite categories sharing `1 − other_share` of
  their interest (Dirichlet weights), and a *style* direction in the embedding space — a look they like: the
  normalised mean embedding of `style_items` (default 1) random products of their favourite categories, plus
  Gaussian noise of norm `style_noise`. A product's utility for a shopper is `category_gain · log(interest in
  its category) + style_gain · cos(style, embedding) + log(appeal)`. Shoppers perceive visual likeness as the
  model does — the stated limit of this simulator. (With a style averaged over several products it collapses
  onto the category centroids and no visual signal can add anything beyond category affinity.)
- **Sessions**: each shopper has Poisson(`sessions`) sessions (at least one) at uniform times over `days` days.
  A session opens on a product drawn with probability ∝ exp(utility); after each view it ends with probability
  `stop_p`, else the next view is, with probability `similar_p`, one of the `neighbours` visually nearest
  products (∝ exp(utility): "more like this"), otherwise a fresh draw. A viewed product that can be sold is
  added to the cart with probability sigmoid(`cart_bias` + `cart_gain` · z), z being the product's utility
  standardised over the catalogue for that shopper; a cart becomes a purchase with probability `purchase_p`.
- **Split in time**: events of the first `days − test_days` days are recorded through the real event path;
  each shopper's carts and purchases of the last `test_days` days (minus what they bought before) are what a
  recommender should find. Shoppers with history and such a product are evaluated, the clock at the split.
- **Recommenders**, all asked for 10 products with purchased and unsellable products excluded: random;
  popularity (the snapshot's decayed popularity); category affinity only, visual only, and the ShopLens blend —
  these three are the real `Recommender` with source weights switched off, not re-implementations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from shoplens.behaviour.erasure import erase_user
from shoplens.behaviour.events import MAX_BATCH, EventIn, record_events
from shoplens.catalog.queries import PRODUCT_CATEGORY, product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import Product
from shoplens.errors import ShopLensError
from shoplens.inference.predictor import l2_normalize
from shoplens.recommend.recommender import Recommender, RecommenderConfig

TYPES = ("view", "add_to_cart", "purchase")
RECOMMENDERS = ("random", "popularity", "category", "visual", "blend")
OFF = RecommenderConfig(visual=0, covis=0, category=0, trending=0)
VARIANTS = {
    "category": replace(OFF, category=1.0),
    "visual": replace(OFF, visual=1.0),
    "blend": RecommenderConfig(),
}


@dataclass(frozen=True)
class SimConfig:
    """The simulated shoppers and their sessions (see the module docstring for what each number means)."""

    users: int = 3000
    days: int = 28
    test_days: int = 7
    sessions: float = 6.0
    favourite_categories: int = 3
    other_share: float = 0.05
    category_gain: float = 1.5
    style_gain: float = 8.0
    style_items: int = 1
    style_noise: float = 0.3
    appeal_sd: float = 0.7
    similar_p: float = 0.6
    neighbours: int = 20
    stop_p: float = 0.25
    max_views: int = 30
    cart_bias: float = -6.0
    cart_gain: float = 1.5
    purchase_p: float = 0.5
    k: int = 10


@dataclass(frozen=True)
class World:
    """The catalogue as the simulation sees it: ids, category codes, unit embeddings, sellable, hidden appeal."""

    ids: np.ndarray
    category: np.ndarray
    names: list[str]
    vectors: np.ndarray
    available: np.ndarray
    appeal: np.ndarray


@dataclass(frozen=True)
class Log:
    """Simulated events as arrays: shopper, product row, type (index into TYPES), seconds from the start, session."""

    user: np.ndarray
    row: np.ndarray
    kind: np.ndarray
    t: np.ndarray
    session: np.ndarray


def load_world(catalog: Catalog, version: str, appeal_sd: float, rng: np.random.Generator) -> World:
    """Every product with an embedded first image under `version`, and a hidden appeal for each."""
    with catalog.sessions() as session:
        vectors = product_vectors(session, version)
        rows = session.execute(select(Product.id, PRODUCT_CATEGORY, Product.stock, Product.status)).all()
    first = {r[0]: r for r in rows if r[1] and r[0] in vectors}
    if len(first) < 20:
        raise ShopLensError(
            "the simulation needs a catalogue of at least 20 embedded products with categories"
        )
    ids = np.array(sorted(first), dtype=np.int64)
    names = sorted({first[i][1] for i in ids})
    unit = l2_normalize(np.stack([vectors[i] for i in ids]))
    return World(
        ids,
        np.array([names.index(first[i][1]) for i in ids]),
        names,
        unit,
        np.array([first[i][2] > 0 and first[i][3] == "active" for i in ids]),
        rng.lognormal(0.0, appeal_sd, len(ids)),
    )


def nearest(vectors: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """The k nearest other products of each product by cosine (n, k), in chunks to bound memory."""
    out = np.empty((len(vectors), k), dtype=np.int64)
    for lo in range(0, len(vectors), chunk):
        sims = vectors[lo : lo + chunk] @ vectors.T
        sims[np.arange(len(sims)), np.arange(lo, lo + len(sims))] = -np.inf
        out[lo : lo + chunk] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def shopper_utility(world: World, cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """A new shopper's utility for every product (hidden category interest, style direction, appeal)."""
    n_cat = len(world.names)
    favourites = rng.choice(
        n_cat, int(rng.integers(1, min(cfg.favourite_categories, n_cat) + 1)), replace=False
    )
    interest = np.full(n_cat, cfg.other_share / n_cat)
    interest[favourites] += (1 - cfg.other_share) * rng.dirichlet(np.ones(len(favourites)))
    pool = np.flatnonzero(np.isin(world.category, favourites))
    style = world.vectors[rng.choice(pool, cfg.style_items)].mean(axis=0)
    style = style / np.linalg.norm(style) + cfg.style_noise * rng.standard_normal(style.size) / np.sqrt(
        style.size
    )
    style /= np.linalg.norm(style)
    category = cfg.category_gain * np.log(interest[world.category])
    return category + cfg.style_gain * (world.vectors @ style) + np.log(world.appeal)


def simulate_log(world: World, cfg: SimConfig, rng: np.random.Generator) -> Log:
    """Every shopper's sessions of views, carts and purchases over the simulated days."""
    near = nearest(world.vectors, cfg.neighbours)
    cols: dict[str, list[float]] = {"user": [], "row": [], "kind": [], "t": [], "session": []}
    session = 0

    def add(user: int, row: int, kind: int, t: float) -> None:
        for key, value in zip(cols, (user, row, kind, t, session)):
            cols[key].append(value)

    for user in range(cfg.users):
        utility = shopper_utility(world, cfg, rng)
        z = (utility - utility.mean()) / utility.std()
        cdf = np.cumsum(np.exp(utility - utility.max()))
        for start in np.sort(rng.uniform(0, cfg.days * 86400, max(1, rng.poisson(cfg.sessions)))):
            t, row = float(start), int(np.searchsorted(cdf, rng.random() * cdf[-1]))
            for _ in range(cfg.max_views):
                add(user, row, 0, t)
                if world.available[row] and rng.random() < 1 / (
                    1 + np.exp(-(cfg.cart_bias + cfg.cart_gain * z[row]))
                ):
                    add(user, row, 1, t + 20)
                    if rng.random() < cfg.purchase_p:
                        add(user, row, 2, t + 40)
                if rng.random() < cfg.stop_p:
                    break
                t += 5 + rng.exponential(60)
                if rng.random() < cfg.similar_p:
                    options = near[row]
                    weights = np.exp(utility[options] - utility[options].max())
                    row = int(rng.choice(options, p=weights / weights.sum()))
                else:
                    row = int(np.searchsorted(cdf, rng.random() * cdf[-1]))
            session += 1
    return Log(*(np.array(cols[k], dtype=np.float64 if k == "t" else np.int64) for k in cols))


def user_id(user: int) -> str:
    """The stored id of a simulated shopper."""
    return f"sim-u{user:05d}"


def split(log: Log, world: World, cfg: SimConfig) -> tuple[np.ndarray, dict[int, set[int]]]:
    """The training mask, and each evaluated shopper's test products (carts and purchases after the split)."""
    cut = (cfg.days - cfg.test_days) * 86400
    train = log.t < cut
    bought = {(int(u), int(r)) for u, r, k in zip(log.user[train], log.row[train], log.kind[train]) if k == 2}
    active = set(np.unique(log.user[train]).tolist())
    wanted: dict[int, set[int]] = {}
    for u, r, k in zip(log.user[~train], log.row[~train], log.kind[~train]):
        if k > 0 and int(u) in active and (int(u), int(r)) not in bought:
            wanted.setdefault(int(u), set()).add(int(world.ids[r]))
    return train, wanted


def record_log(catalog: Catalog, log: Log, mask: np.ndarray, world: World, start: datetime) -> int:
    """Record the masked events through the real event path (in batches); how many were accepted."""
    idx = np.flatnonzero(mask)
    accepted = 0
    for lo in range(0, len(idx), MAX_BATCH):
        batch = [
            EventIn(
                f"sim-{i}",
                user_id(int(log.user[i])),
                TYPES[int(log.kind[i])],
                start + timedelta(seconds=float(log.t[i])),
                int(world.ids[log.row[i]]),
                session_id=f"sim-s{log.session[i]}",
            )
            for i in idx[lo : lo + MAX_BATCH]
        ]
        accepted += record_events(catalog.sessions, batch).count("accepted")
    return accepted


def metrics(
    lists: dict[int, list[int]], wanted: dict[int, set[int]], n_products: int, k: int
) -> dict[str, float]:
    """HR@k, NDCG@k (binary relevance) over the evaluated shoppers, and catalogue coverage of all lists."""
    hr, ndcg = [], []
    discounts = 1 / np.log2(np.arange(2, k + 2))
    for user, items in lists.items():
        rel = np.array([p in wanted[user] for p in items[:k]] + [False] * (k - len(items[:k])), dtype=float)
        hr.append(float(rel.any()))
        ndcg.append(float(rel @ discounts / discounts[: min(len(wanted[user]), k)].sum()))
    shown = {p for items in lists.values() for p in items}
    return {
        "hr_at_10": float(np.mean(hr)),
        "ndcg_at_10": float(np.mean(ndcg)),
        "coverage": len(shown) / n_products,
    }


def _baseline(
    world: World, scores: Callable[[int], np.ndarray], bought: dict[int, set[int]], k: int
) -> Callable[[int], list[int]]:
    """A recommender from a score per product row (unsellable and bought products excluded)."""

    def recommend(user: int) -> list[int]:
        s = np.where(world.available, scores(user), -np.inf)
        s[np.isin(world.ids, list(bought.get(user, ())))] = -np.inf
        return [int(world.ids[r]) for r in np.argsort(-s, kind="stable")[:k]]

    return recommend


def run_simulation(
    catalog: Catalog,
    cfg: SimConfig = SimConfig(),
    seed: int = 0,
    latency_users: int = 300,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Simulate, record the training events, ask each recommender for every evaluated shopper; metrics and latency."""
    rng = np.random.default_rng(seed)
    version = catalog.space.active_version() or catalog.model().version
    world = load_world(catalog, version, cfg.appeal_sd, rng)
    erase_user(catalog.sessions, [user_id(u) for u in range(cfg.users)])  # a rerun on the same catalogue
    log = simulate_log(world, cfg, rng)
    train, wanted = split(log, world, cfg)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(days=cfg.days)
    clock = start + timedelta(days=cfg.days - cfg.test_days)
    started = time.perf_counter()
    recorded = record_log(catalog, log, train, world, start)
    progress(
        f"seed {seed}: {len(log.t)} events simulated, {recorded} recorded for training "
        f"in {time.perf_counter() - started:.1f} s; {len(wanted)} shoppers to evaluate"
    )
    recs = {name: Recommender(catalog, config, clock=lambda: clock) for name, config in VARIANTS.items()}
    started = time.perf_counter()
    stats = recs["blend"].stats.get()
    snapshot_ms = (time.perf_counter() - started) * 1000
    for r in recs.values():
        r.stats = recs["blend"].stats  # one snapshot for all
    bought: dict[int, set[int]] = {}
    for u, r, kind in zip(log.user[train], log.row[train], log.kind[train]):
        if kind == 2:
            bought.setdefault(int(u), set()).add(int(world.ids[r]))
    rows = stats.rows(world.ids)
    pop = np.where(rows >= 0, stats.popularity[np.maximum(rows, 0)], 0.0)
    ask: dict[str, Callable[[int], list[int]]] = {
        "random": _baseline(world, lambda u: rng.random(len(world.ids)), bought, cfg.k),
        "popularity": _baseline(world, lambda u: pop, bought, cfg.k),
        **{
            name: (
                lambda u, r=r: [i.product_id for i in r.recommend(user_id(u), cfg.k, use_cache=False).items]
            )
            for name, r in recs.items()
        },
    }
    results = {}
    for name in RECOMMENDERS:
        started = time.perf_counter()
        results[name] = metrics({u: ask[name](u) for u in sorted(wanted)}, wanted, len(world.ids), cfg.k)
        progress(f"  {name:10s} {results[name]}  ({time.perf_counter() - started:.1f} s)")
    return {
        "recommenders": results,
        "latency": measure_latency(recs["blend"], sorted(wanted)[:latency_users], cfg.k),
        "snapshot_build_ms": snapshot_ms,
        "events_simulated": len(log.t),
        "events_recorded": recorded,
        "shoppers_evaluated": len(wanted),
        "products": len(world.ids),
        "model_version": version,
    }


def measure_latency(rec: Recommender, users: list[int], k: int) -> dict[str, float]:
    """ms per `recommend` call: computed (profile and candidates, no cache) and answered from the cache."""
    computed, cached = [], []
    for u in users:
        started = time.perf_counter()
        rec.recommend(user_id(u), k, use_cache=False)
        computed.append((time.perf_counter() - started) * 1000)
    for u in users:
        rec.recommend(user_id(u), k)  # computes and caches
        started = time.perf_counter()
        rec.recommend(user_id(u), k)
        cached.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": float(np.percentile(computed, 50)),
        "p99_ms": float(np.percentile(computed, 99)),
        "cached_p50_ms": float(np.percentile(cached, 50)),
        "calls": len(computed),
        "samples_ms": computed,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (and std, n) over runs of each recommender's metrics and of the latency."""
    out: dict[str, Any] = {}
    for name in RECOMMENDERS:
        out[name] = {}
        for key in runs[0]["recommenders"][name]:
            values = [r["recommenders"][name][key] for r in runs]
            out[name][key] = float(np.mean(values))
            out[name][f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return out


def write_chart(summary: dict[str, Any], latency_ms: list[float], path: Path) -> Path:
    """Bars of HR@10, NDCG@10 and coverage per recommender (± std), and the latency distribution."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    bars, hist = fig.subplots(1, 2, width_ratios=[2, 1])
    width = 0.27
    for i, key in enumerate(("hr_at_10", "ndcg_at_10", "coverage")):
        x = np.arange(len(RECOMMENDERS)) + (i - 1) * width
        bars.bar(
            x,
            [summary[n][key] for n in RECOMMENDERS],
            width,
            yerr=[summary[n][f"{key}_std"] for n in RECOMMENDERS],
            label=key.replace("_at_", "@"),
            capsize=3,
        )
    bars.set_xticks(np.arange(len(RECOMMENDERS)), RECOMMENDERS)
    bars.set(title="Simulated shoppers: later carts and purchases found in the top 10", ylim=(0, 1))
    bars.legend()
    hist.hist(latency_ms, bins=40, color="#4C72B0")
    hist.axvline(20, color="crimson", linestyle="--", label="target p50 20 ms")
    hist.set(title="recommend() latency, no cache", xlabel="ms", ylabel="calls")
    hist.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
