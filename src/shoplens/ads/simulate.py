"""An ads simulator on a real catalogue: ShopLens selection vs a random creative vs the best single creative.

The market:
- **Creatives** are made from catalogue product photos (reframed by a pixel or two and made a little brighter
  or darker), `campaigns × creatives_per_campaign` of them, each campaign's photos from one category, and
  recognised by the catalogue's model exactly as uploads are (`Catalog.recognise`). A share of campaigns
  target their category; the rest rely on recognition. Every creative also has a hidden appeal of its own.
  Bids are equal and budgets unlimited, so the comparison is about clicks.
- **Shoppers** have hidden tastes: one to `favourite_categories` categories with random weights, and a style
  vector (the normalised mean embedding of a few products from those categories). Each round a random shopper
  views a product (from their favourite categories with probability `loyalty`, else any), and one ad is shown.
  ShopLens sees only what the service would: the views so far, weighted and decayed as the service's shopper
  profile weighs them (`behaviour.profiles.ProfileConfig`: category affinity, taste vector), and the page.
- **Clicks**: logit P(click) = logit(base_ctr) + appeal + taste_gain·(cos(style, creative) − mean)
  + page_gain·(cos(page, creative) − mean) + category_gain·(shopper's weight for the creative's true category),
  the true category being the source product's. Clicks use common random numbers across policies.

Policies: **ShopLens** scores eligible creatives with `shoplens.ads.scoring` (relevance × Thompson-sampled CTR
per segment × bid, learning from its own clicks, frequency caps on a simulated clock of `days`); **random**
shows a random eligible creative under the same caps and targeting; **best single** shows, every round, the
one creative with the highest true CTR over all rounds, chosen with hindsight (no caps). Regret is measured
in expected clicks against the best single creative and against a per-round oracle (the best creative for
that shopper and page).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from sqlalchemy import select

from shoplens.ads.scoring import Candidates, Context, SelectionConfig, pick, score
from shoplens.ads.selection import embedding_version
from shoplens.behaviour.profiles import ProfileConfig, segment_of
from shoplens.catalog.queries import PRODUCT_CATEGORY, first_image_sha256, product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import Product
from shoplens.errors import ShopLensError
from shoplens.imaging import decode_image
from shoplens.inference.predictor import l2_normalize

POLICIES = ("random", "best_single", "shoplens")


@dataclass(frozen=True)
class SimConfig:
    """The simulated market: creatives, shoppers' hidden tastes, the click model, the clock."""

    campaigns: int = 12
    creatives_per_campaign: int = 2
    targeted_share: float = 0.25
    favourite_categories: int = 2
    history: int = 5  # views of each shopper before the first ad
    loyalty: float = 0.8  # share of views within the shopper's favourite categories
    base_ctr: float = 0.01  # a typical display-ad click rate
    appeal_sd: float = 0.4  # spread of the creatives' own appeal (logit)
    taste_gain: float = 2.0
    page_gain: float = 1.5
    category_gain: float = 0.5
    days: float = 7.0  # simulated time the rounds span (frequency caps count per window of it)
    max_products: int = 5000
    checkpoints: int = 50


@dataclass(frozen=True)
class _Products:
    """Catalogue products used by the simulation: ids, categories, image ids, embeddings."""

    ids: np.ndarray
    categories: list[str]
    sha256: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class _Creatives:
    """The simulated creatives: campaign, true and recognised category, embedding, appeal, targets."""

    campaign: list[int]
    true_category: list[str]
    seen_category: list[str]
    vectors: np.ndarray
    appeal: np.ndarray
    targets: list[frozenset[str]]


def load_products(catalog: Catalog, version: str, limit: int) -> _Products:
    """Active products with an embedded first image under `version` (at most `limit`, by id)."""
    stmt = (
        select(Product.id, PRODUCT_CATEGORY, first_image_sha256())
        .where(Product.status == "active")
        .order_by(Product.id)
    )
    with catalog.sessions() as session:
        vectors = product_vectors(session, version)
        embedded = [r for r in session.execute(stmt).all() if r[0] in vectors][:limit]
    rows = [r for r in embedded if r[1] is not None]
    if len(rows) < 4 or len({r[1] for r in rows}) < 2:
        raise ShopLensError(
            "the ads simulation needs a catalogue with at least 4 embedded products in 2 categories"
        )
    return _Products(
        np.array([r[0] for r in rows]),
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.stack([vectors[r[0]] for r in rows]),
    )


def ad_photo(photo: Image.Image, rng: np.random.Generator, margin: int = 2) -> Image.Image:
    """A creative made from a product photo: moved a pixel or two on a larger white canvas, brighter or darker."""
    photo = photo if photo.mode in ("L", "RGB") else photo.convert("RGB")
    dx, dy = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(1, margin + 1, size=2))
    canvas = Image.new(photo.mode, (photo.width + 2 * margin, photo.height + 2 * margin), "white")
    canvas.paste(photo, (margin + dx, margin + dy))
    gamma = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    return canvas.point([round(255 * (v / 255) ** gamma) for v in range(256)] * len(photo.getbands()))


def make_creatives(
    catalog: Catalog, products: _Products, config: SimConfig, rng: np.random.Generator
) -> _Creatives:
    """Creatives from catalogue photos, each campaign within one category, recognised by the catalogue's model."""
    categories = sorted(set(products.categories))
    by_category = {c: np.flatnonzero(np.array(products.categories) == c) for c in categories}
    campaign, true_category, images, targets = [], [], [], []
    for k in range(config.campaigns):
        category = categories[k % len(categories)]
        targeted = rng.random() < config.targeted_share
        picks = rng.choice(
            by_category[category],
            size=config.creatives_per_campaign,
            replace=len(by_category[category]) < config.creatives_per_campaign,
        )
        for i in picks:
            photo = decode_image(catalog.store.open(products.sha256[int(i)]))
            images.append(ad_photo(photo, rng))
            campaign.append(k)
            true_category.append(category)
            targets.append(frozenset({category}) if targeted else frozenset())
    seen = catalog.recognise(images)
    return _Creatives(
        campaign,
        true_category,
        [s.category for s in seen],
        np.stack([s.vector for s in seen]),
        rng.normal(0.0, config.appeal_sd, len(images)),
        targets,
    )


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _expected_ctr(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Per-round expected CTR of a policy given its chosen creatives (NaN for nothing shown)."""
    return np.where(b >= 0, a[np.arange(n), np.maximum(b, 0)], np.nan)


class _Market:
    """Shoppers, their page views and the true click probabilities of every creative in every round."""

    def __init__(
        self,
        products: _Products,
        creatives: _Creatives,
        n_users: int,
        rounds: int,
        config: SimConfig,
        rng: np.random.Generator,
    ) -> None:
        cats = sorted(set(products.categories))
        index = {c: i for i, c in enumerate(cats)}
        prod_cat = np.array([index[c] for c in products.categories])
        members = [np.flatnonzero(prod_cat == i) for i in range(len(cats))]
        k = min(config.favourite_categories, len(cats))
        weights = np.zeros((n_users, len(cats)))
        style = np.zeros((n_users, products.vectors.shape[1]), dtype=np.float32)
        for u in range(n_users):
            fav = rng.choice(len(cats), size=k, replace=False)
            weights[u, fav] = rng.dirichlet(np.ones(k))
            seeds = np.concatenate([rng.choice(members[c], size=3) for c in fav])
            v = products.vectors[seeds].mean(axis=0)
            style[u] = l2_normalize(v)
        self.cats, self.prod_cat, self.weights = cats, prod_cat, weights
        total = n_users * config.history + rounds
        users = np.concatenate(
            [np.repeat(np.arange(n_users), config.history), rng.integers(0, n_users, rounds)]
        )
        loyal = rng.random(total) < config.loyalty
        pages = np.empty(total, dtype=np.int64)
        for t in range(total):  # bounded: one page view per step
            u = users[t]
            c = (
                rng.choice(len(cats), p=weights[u])
                if loyal[t]
                else int(prod_cat[rng.integers(len(prod_cat))])
            )
            pages[t] = rng.choice(members[c])
        self.warmup = n_users * config.history
        self.users, self.pages = users, pages
        # True click probabilities for the ad rounds (rounds × creatives).
        ad_users, ad_pages = users[self.warmup :], pages[self.warmup :]
        taste_sim = style @ creatives.vectors.T  # users × creatives
        page_sim = products.vectors[ad_pages] @ creatives.vectors.T  # rounds × creatives
        cat_weight = weights / np.maximum(weights.max(axis=1, keepdims=True), 1e-12)
        creative_cat = np.array([index.get(c, -1) for c in creatives.true_category])
        liked = np.where(creative_cat >= 0, cat_weight[ad_users][:, np.maximum(creative_cat, 0)], 0.0)
        fit = (
            config.taste_gain * (taste_sim[ad_users] - taste_sim.mean())
            + config.page_gain * (page_sim - page_sim.mean())
            + config.category_gain * liked
        )
        logits = _logit(config.base_ctr) + creatives.appeal[None, :] + fit
        self.p = 1.0 / (1.0 + np.exp(-logits))


def simulate_ads(
    catalog: Catalog,
    n_users: int = 500,
    rounds: int = 20_000,
    seed: int = 0,
    *,
    config: SimConfig = SimConfig(),
    selection: SelectionConfig = SelectionConfig(),
    profiles: ProfileConfig = ProfileConfig(),
) -> dict[str, Any]:
    """Run the simulated market; CTRs, regret and their curves for random, best-single and ShopLens selection."""
    if n_users < 1 or rounds < 1:
        raise ValueError("n_users and rounds must be positive")
    rng = np.random.default_rng(seed)
    version = embedding_version(catalog)
    if version is None:
        raise ShopLensError("the catalogue has no model version to embed with")
    products = load_products(catalog, version, config.max_products)
    creatives = make_creatives(catalog, products, config, rng)
    if creatives.vectors.shape[1] != products.vectors.shape[1]:
        raise ShopLensError(
            "the catalogue's stored embeddings differ from what its model gives now: run `shoplens reindex`"
        )
    market = _Market(products, creatives, n_users, rounds, config, rng)
    n_c = len(creatives.campaign)
    coins = rng.random(rounds)
    best = int(np.argmax(market.p.mean(axis=0)))
    chosen = {
        "best_single": np.full(rounds, best),
        "random": np.full(rounds, -1),
        "shoplens": np.full(rounds, -1),
    }
    oracle = market.p.max(axis=1)
    # What the service would know: each shopper's views so far.
    affinity: list[dict[str, float]] = [defaultdict(float) for _ in range(n_users)]
    taste = np.zeros((n_users, products.vectors.shape[1]), dtype=np.float32)
    clicks: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_c))  # per segment
    shown: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_c))
    total_clicks, total_shown = np.zeros(n_c), np.zeros(n_c)
    seen_at: dict[tuple[str, int, int], deque[float]] = {}
    window_days = selection.frequency_window.total_seconds() / 86400
    bids = np.ones(n_c)
    for t in range(market.warmup + rounds):  # bounded: one page view (and after the warm-up one ad) per step
        u, page = int(market.users[t]), int(market.pages[t])
        r = t - market.warmup
        now = max(r, 0) / rounds * config.days  # warm-up views happen at the start
        # A view weighs as the profile weighs it; decaying every older view is weighing a newer one up (the
        # profile's affinity and taste are relative), so a view at day `now` counts 2^(now / half-life).
        weight = float(profiles.weigh(["view"], np.array([-now]))[0])
        affinity[u][products.categories[page]] += weight
        taste[u] += weight * products.vectors[page]
        if r < 0:
            continue
        segment = segment_of(affinity[u])
        wanted = {products.categories[page], segment}
        for policy in ("random", "shoplens"):
            ok = np.array(
                [
                    (not creatives.targets[i] or bool(creatives.targets[i] & wanted))
                    and _under_cap(seen_at.get((policy, u, i)), now, window_days, selection.frequency_cap)
                    for i in range(n_c)
                ]
            )
            eligible = np.flatnonzero(ok)
            if not len(eligible):
                continue
            if policy == "random":
                pick_i = int(rng.choice(eligible))
            else:
                cands = Candidates(
                    bids[eligible],
                    creatives.vectors[eligible],
                    np.ones(len(eligible), dtype=bool),
                    [creatives.seen_category[i] for i in eligible],
                    clicks[segment][eligible],
                    shown[segment][eligible],
                    total_clicks[eligible],
                    total_shown[eligible],
                )
                ctx = Context(products.vectors[page], products.categories[page], taste[u], dict(affinity[u]))
                s = score(cands, ctx, rng, selection)
                pick_i = int(eligible[pick(s.score, [creatives.campaign[i] for i in eligible], 1)[0]])
                hit = float(coins[r] < market.p[r, pick_i])
                shown[segment][pick_i] += 1
                clicks[segment][pick_i] += hit
                total_shown[pick_i] += 1
                total_clicks[pick_i] += hit
            chosen[policy][r] = pick_i
            seen_at.setdefault((policy, u, pick_i), deque(maxlen=max(selection.frequency_cap, 1))).append(now)
    return _summary(
        market, creatives, chosen, oracle, coins, rounds, n_users, seed, version, len(products.ids), config
    )


def _under_cap(times: deque[float] | None, now: float, window: float, cap: int) -> bool:
    """Whether fewer than `cap` impressions fall within the window before now."""
    return times is None or sum(1 for x in times if x > now - window) < cap


def _summary(
    market: _Market,
    creatives: _Creatives,
    chosen: dict[str, np.ndarray],
    oracle: np.ndarray,
    coins: np.ndarray,
    rounds: int,
    n_users: int,
    seed: int,
    version: str,
    n_products: int,
    config: SimConfig,
) -> dict[str, Any]:
    """CTRs (realised and expected), regret totals, and curves at checkpoints."""
    marks = np.unique(np.linspace(1, rounds, min(config.checkpoints, rounds)).astype(int))
    expected = {k: _expected_ctr(market.p, v, rounds) for k, v in chosen.items()}
    clicked = {k: np.where(np.isnan(e), 0.0, coins < np.nan_to_num(e)) for k, e in expected.items()}
    shown = {k: ~np.isnan(e) for k, e in expected.items()}
    ctr = {k: float(clicked[k].sum() / max(shown[k].sum(), 1)) for k in chosen}
    running = {k: np.cumsum(clicked[k]) / np.maximum(np.cumsum(shown[k]), 1) for k in chosen}
    cum_ctr = {k: v[marks - 1].round(5).tolist() for k, v in running.items()}
    gain = {k: np.cumsum(np.nan_to_num(e)) for k, e in expected.items()}
    best, top = gain["best_single"], np.cumsum(oracle)
    regret_best = {k: (best - gain[k])[marks - 1].round(3).tolist() for k in ("random", "shoplens")}
    regret_oracle = {k: (top - gain[k])[marks - 1].round(3).tolist() for k in POLICIES}
    recognised = np.mean([a == b for a, b in zip(creatives.true_category, creatives.seen_category)])
    return {
        "random_ctr": round(ctr["random"], 5),
        "best_single_ctr": round(ctr["best_single"], 5),
        "shoplens_ctr": round(ctr["shoplens"], 5),
        "oracle_ctr": round(float(oracle.mean()), 5),
        "lift_vs_random": round(ctr["shoplens"] / max(ctr["random"], 1e-12), 3),
        "lift_vs_best_single": round(ctr["shoplens"] / max(ctr["best_single"], 1e-12), 3),
        "expected_ctr": {k: round(float(np.nanmean(e)), 5) for k, e in expected.items()},
        "regret": {
            "vs_best_single": {k: v[-1] for k, v in regret_best.items()},
            "vs_oracle": {k: v[-1] for k, v in regret_oracle.items()},
            "unit": "expected clicks",
        },
        "curves": {
            "round": marks.tolist(),
            "ctr": cum_ctr,
            "regret_vs_best_single": regret_best,
            "regret_vs_oracle": regret_oracle,
        },
        "rounds": rounds,
        "users": n_users,
        "seed": seed,
        "model_version": version,
        "products": n_products,
        "creatives": len(creatives.campaign),
        "campaigns": len(set(creatives.campaign)),
        "targeted_campaigns": len({c for c, t in zip(creatives.campaign, creatives.targets) if t}),
        "recognition_accuracy": round(float(recognised), 4),
        "config": asdict(config),
    }


def write_ads_chart(result: dict[str, Any], path: str | Path) -> Path:
    """A PNG of cumulative CTR and cumulative regret (vs the best single creative) over the rounds."""
    curves = result["curves"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name in POLICIES:
        left.plot(curves["round"], curves["ctr"][name], label=name.replace("_", " "))
    left.axhline(result["oracle_ctr"], color="grey", linestyle="--", label="oracle (expected)")
    left.set(title="Cumulative CTR", xlabel="round", ylabel="clicks / impressions")
    left.legend(loc="lower right")
    for name, values in curves["regret_vs_best_single"].items():
        right.plot(curves["round"], values, label=name)
    right.axhline(0, color="grey", linewidth=0.8)
    right.set(title="Regret vs the best single creative", xlabel="round", ylabel="expected clicks lost")
    right.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    return path
