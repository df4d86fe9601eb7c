"""Why each recommended product is there: the source that lifted it most, said in words ("looks like X you
viewed", "often viewed together with X", "popular in C, a category you like", "trending in C")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoplens.recommend.items import ProductInfo, Recommendation
from shoplens.recommend.stats import ItemStats


@dataclass(frozen=True)
class Context:
    """What the reasons are made from: the sources' scores, product facts and vectors, the shopper's seeds."""

    stats: ItemStats
    scores: dict[str, np.ndarray]
    weights: dict[str, float]
    info: dict[int, ProductInfo]
    vectors: dict[int, np.ndarray]
    recent: list[int]
    liked: frozenset[str]  # the shopper's top categories
    seed_rows: np.ndarray
    seed_w: np.ndarray


def explain(
    ctx: Context, pool: np.ndarray, rows: np.ndarray, ids: list[int], blend: np.ndarray
) -> list[Recommendation]:
    """The picked products as Recommendations, each with the reason of its strongest source (anchors vectorised)."""
    names = list(ctx.scores)  # never empty: a shopper without any source gets the cold-start one
    # The source that lifts a product most above the pool it was picked from (weighted score minus the pool's
    # median); when none lifts it, the source that gave it most.
    given = np.array([ctx.weights[s] * ctx.scores[s][rows] for s in names]).reshape(len(names), len(rows))
    lift = given - np.array([ctx.weights[s] * np.median(ctx.scores[s][pool]) for s in names]).reshape(-1, 1)
    best = np.where(lift.max(axis=0) > 0, lift.argmax(axis=0), given.argmax(axis=0))
    sources = [names[i] if given[i, j] > 0 else "trending" for j, i in enumerate(best)]
    look_alike: list[int | None] = [None] * len(rows)
    covisited: list[int | None] = [None] * len(rows)
    with_vectors = [p for p in ctx.recent if p in ctx.vectors]
    if with_vectors and ids:
        zero = np.zeros(len(ctx.vectors[with_vectors[0]]), np.float32)
        sims = (
            np.stack([ctx.vectors[p] for p in with_vectors])
            @ np.stack([ctx.vectors.get(p, zero) for p in ids]).T
        )
        look_alike = [with_vectors[i] for i in sims.argmax(axis=0)]
    if len(ctx.seed_rows) and len(rows):
        shared = ctx.stats.covis[ctx.seed_rows][:, rows].toarray() * ctx.seed_w[:, None]
        covisited = [int(ctx.stats.product_ids[ctx.seed_rows[i]]) for i in shared.argmax(axis=0)]
    out = []
    for j, (row, pid) in enumerate(zip(rows, ids)):
        info = ctx.info[pid]
        reason = _reason(ctx, sources[j], int(row), pid, info, look_alike[j], covisited[j])
        out.append(
            Recommendation(
                pid,
                info.title,
                info.category,
                info.price,
                info.image_url,
                round(float(blend[j]), 6),
                sources[j],
                reason,
            )
        )
    return out


def _reason(
    ctx: Context, source: str, row: int, pid: int, info: ProductInfo, alike: int | None, together: int | None
) -> str:
    """Why this product is here, in words."""

    def title(p: int) -> str:
        return ctx.info[p].title if p in ctx.info else f"product {p}"

    if pid in ctx.recent:
        return "you viewed it recently"
    if source == "visual":
        if not ctx.recent:
            return "looks similar"
        return f"looks like {title(alike)} you viewed" if alike is not None else "matches your visual taste"
    if source == "covis":
        return (
            f"often viewed together with {title(together)}"
            if together is not None
            else "often viewed together"
        )
    category = info.category or "the catalogue"
    if source == "category":
        return (
            f"popular in {category}, a category you like"
            if info.category in ctx.liked
            else f"popular in {category}"
        )
    if ctx.stats.trending[row] > 0:
        return f"trending in {category}"
    return f"popular in {category}" if ctx.stats.popularity[row] > 0 else f"new in {category}"


IMPERSONAL = {  # a reason that names nothing from the shopper's history, per source
    "visual": "picked for this shopper's taste",
    "covis": "often viewed together with what this shopper viewed",
    "category": "popular in a category this shopper likes",
    "trending": "trending",
}


def impersonal(source: str, reason: str) -> str:
    """The reason as a caller without the `shopper-data` scope gets it: no product, title or category the shopper
    viewed (reasons that name none of them, such as "trending in Bag", are kept)."""
    general = reason in ("looks similar", "often viewed together") or reason.startswith("trending in")
    if general or (reason.startswith("popular in") and not reason.endswith("a category you like")):
        return reason
    return IMPERSONAL.get(source, "picked for this shopper")
