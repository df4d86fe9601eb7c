"""The "not a product" detector's boosted trees: scikit-learn's booster with the detector's constraints, its trees
as the numpy arrays a bundle stores (shoplens.inference.trees), and boosters fitted on bags of the photos and
averaged into one set of trees."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from shoplens.inference.ood import MODEL_FEATURES
from shoplens.inference.trees import LEAF, BoostedTrees

TREES = {"max_iter": 150, "max_depth": 3, "learning_rate": 0.1}  # the boosted detector (bench/ood_kinds.py)
# How the not-a-product odds may move with each model feature, all else equal: down as the model grows surer,
# up as the photo lies farther from every class. With the model's and the photo's cues kept in separate trees (no
# interactions between the two groups), a kind of non-product the fit never saw cannot hide in a region of the
# cues where only products were seen: low confidence still counts (bench/results/ood_kinds.json).
MONOTONE = {"max_prob": -1, "entropy": 1, "mahalanobis": 1, "centre_cosine": -1}


def booster(
    features: Sequence[str], settings: dict[str, float] | None = None, seed: int = 0
) -> HistGradientBoostingClassifier:
    """The detector's unfitted booster: TREES (with `settings` on top), MONOTONE, model and photo cues apart.

    The setting `constrained=0` leaves out MONOTONE and the separation (bench/ood_kinds.py measures both ways).
    """
    settings = {**TREES, **(settings or {})}
    constraints = {}
    if settings.pop("constrained", 1):
        model = [i for i, name in enumerate(features) if name in MODEL_FEATURES]
        photo = [i for i, name in enumerate(features) if name not in MODEL_FEATURES]
        constraints = {
            "monotonic_cst": [MONOTONE.get(name, 0) for name in features],
            "interaction_cst": [group for group in (model, photo) if group],
        }
    return HistGradientBoostingClassifier(**settings, **constraints, early_stopping=False, random_state=seed)


def trees_of(boosted: HistGradientBoostingClassifier) -> BoostedTrees:
    """A fitted binary histogram booster's trees as numpy arrays (its baseline log-odds not included).

    scikit-learn has no public view of these trees; its predictors' node tables are read (a test checks that the
    arrays score exactly as the booster). Leaf values already carry the shrinkage: learning rate 1.
    """
    tables = [predictor.nodes for (predictor,) in boosted._predictors]
    width = max(len(t) for t in tables)

    def padded(values: np.ndarray, fill: float) -> np.ndarray:
        return np.concatenate([values, np.full(width - len(values), fill, values.dtype)])

    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
    for t in tables:
        leaf = t["is_leaf"].astype(bool)
        itself = np.arange(len(t))
        rows["feature"].append(padded(np.where(leaf, LEAF, t["feature_idx"]).astype(np.int64), LEAF))
        rows["threshold"].append(padded(t["num_threshold"].astype(np.float64), 0.0))
        rows["left"].append(padded(np.where(leaf, itself, t["left"]).astype(np.int64), 0))
        rows["right"].append(padded(np.where(leaf, itself, t["right"]).astype(np.int64), 0))
        rows["value"].append(padded(np.where(leaf, t["value"], 0.0).astype(np.float64), 0.0))
    return BoostedTrees(**{k: np.stack(v) for k, v in rows.items()}, learning_rate=1.0)


def prior_log_odds(y: np.ndarray) -> float:
    """Log-odds of the positive share: where a binary booster starts."""
    p = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    return float(np.log(p / (1 - p)))


def averaged(forests: Sequence[BoostedTrees]) -> BoostedTrees:
    """One set of trees whose raw score is the mean of the given ones' (trees padded to the largest)."""
    width = max(f.feature.shape[1] for f in forests)

    def stacked(name: str, fill: float | None) -> np.ndarray:
        tables = []
        for f in forests:
            table = getattr(f, name)
            pad = width - table.shape[1]
            if fill is None:  # child indices: padding nodes are leaves pointing at themselves
                pad_values = np.broadcast_to(np.arange(table.shape[1], width), (len(table), pad))
            else:
                pad_values = np.full((len(table), pad), fill, table.dtype)
            tables.append(np.concatenate([table, pad_values.astype(table.dtype)], axis=1))
        return np.concatenate(tables)

    scale = np.concatenate([np.full(len(f.value), f.learning_rate / len(forests)) for f in forests])
    return BoostedTrees(
        feature=stacked("feature", LEAF),
        threshold=stacked("threshold", 0.0),
        left=stacked("left", None),
        right=stacked("right", None),
        value=stacked("value", 0.0) * scale[:, None],
        learning_rate=1.0,
    )


def out_of_bag(
    z: np.ndarray,
    y: np.ndarray,
    bags: Sequence[np.ndarray],
    new_booster: Callable[[int], HistGradientBoostingClassifier],
) -> tuple[list[BoostedTrees], list[float], np.ndarray]:
    """Boosters fitted on each bag's rows of (z, y): their trees, their baseline log-odds, and each row's score
    averaged over the boosters that did not see it (NaN for a row every booster saw)."""
    fitted, baselines, log_odds, left_out = [], [], np.zeros(len(y)), np.zeros(len(y))
    for k, bag in enumerate(bags):
        fitted.append(trees_of(new_booster(k).fit(z[bag], y[bag])))
        baselines.append(prior_log_odds(y[bag]))
        out = np.ones(len(y), bool)
        out[bag] = False
        log_odds[out] += baselines[-1] + fitted[-1].raw(z[out])
        left_out[out] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(left_out > 0, log_odds / left_out, np.nan)
    return fitted, baselines, 1.0 / (1.0 + np.exp(-np.clip(mean, -50, 50)))
