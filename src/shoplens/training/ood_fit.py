"""Fit the "not a product" detector of shoplens.inference.ood on validation photos and synthetic non-products."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from shoplens.data import ImageDataset, stratified_split
from shoplens.data.stream import in_memory
from shoplens.errors import BundleError
from shoplens.imaging import PreprocessConfig, decode_image, read_image
from shoplens.imaging.photo import CUE_NAMES
from shoplens.inference.ood import MODEL_FEATURES, OodDetector
from shoplens.inference.predictor import Predictor
from shoplens.inference.trees import LEAF, BoostedTrees
from shoplens.models.bundle import METRICS, BundleSpec, load_bundle, read_bundle_spec, write_json
from shoplens.training.card import write_model_card
from shoplens.training.outlier_synth import render_outlier
from shoplens.training.photo_synth import render_photo

DEFAULT_FEATURES = (*MODEL_FEATURES, *CUE_NAMES)
SHRINKAGE = 0.1  # covariance shrinkage towards its mean variance, for a stable whitening
MAX_FALSE_FLAGS = 0.025  # share of validation product photos allowed to be flagged "not recognised"
CALIBRATION_PHOTOS = 2000  # product photos, and as many non-products, read to fit a bundle's detector
TREES = {"max_iter": 150, "max_depth": 3, "learning_rate": 0.1}  # the boosted detector (bench/ood_kinds.py)
# How the not-a-product odds may move with each model feature, all else equal: down as the model grows surer,
# up as the photo lies farther from every class. With the model's and the photo's cues kept in separate trees (no
# interactions between the two groups), a kind of non-product the fit never saw cannot hide in a region of the
# cues where only products were seen: low confidence still counts (bench/results/ood_kinds.json).
MONOTONE = {"max_prob": -1, "entropy": 1, "mahalanobis": 1, "centre_cosine": -1}
CALIBRATION_SIDES = (200, 640)  # canvas sides of the calibration photos (the reader works at 224 px anyway)
REVIEW_SHARE = 0.10  # share of validation product photos sent to review by the out-of-distribution score
# Boosters averaged, each fitted on half of the calibration photos (bench/ood_bagging.py): steadier than one
BAGS = 8
MIN_PHOTOS = 4  # of each kind, so that every half holds two: below it, no detector is fitted


@dataclass
class PhotoSet:
    """Photos read for the model: inputs (N, C, H, W) uint8, their cues, and labels (-1 for non-products)."""

    arrays: np.ndarray
    cues: list[dict[str, float]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> PhotoSet:
        """The photos at the given positions."""
        return PhotoSet(self.arrays[index], [self.cues[i] for i in index], self.labels[index])


def model_outputs(
    predictor: Predictor, arrays: np.ndarray, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities (N, K) and L2-normalised embeddings (N, D), exactly as serving computes them."""
    outs = [predictor.run(arrays[i : i + batch_size]) for i in range(0, len(arrays), batch_size)]
    return np.concatenate([p for p, _ in outs]), np.concatenate([e for _, e in outs])


def read_photos(photos: Sequence[bytes], preprocess: PreprocessConfig, labels: Sequence[int]) -> PhotoSet:
    """Encoded photos read through the serving path (decoded as /v1/classify decodes, then preprocessed)."""
    # one at a time: a few thousand decoded 2000-px photos would not fit in memory
    reads = [read_image(decode_image(data, at_least=preprocess.decode_side), preprocess) for data in photos]
    return PhotoSet(np.stack([x for x, _ in reads]), [cue for _, cue in reads], np.asarray(labels, np.int64))


def calibration_photos(
    images: np.ndarray, labels: np.ndarray, preprocess: PreprocessConfig, n: int, seed: int = 0
) -> tuple[PhotoSet, PhotoSet]:
    """(product photos of validation garments, synthetic non-products), up to n of each, from the training renderers.

    Most products are rendered as shop photos; one in six is the garment itself, light on dark, as a PNG.
    """
    rng = np.random.default_rng(seed)
    products = product_photos(images, labels, preprocess, n, rng)
    outliers = [render_outlier(rng, sides=CALIBRATION_SIDES).encode() for _ in range(len(products))]
    return products, read_photos(outliers, preprocess, [-1] * len(products))


def product_photos(
    images: np.ndarray, labels: np.ndarray, preprocess: PreprocessConfig, n: int, rng: np.random.Generator
) -> PhotoSet:
    """Up to n validation garments rendered by the training renderer, one in six as a light-on-dark PNG, read."""
    pick = rng.choice(len(images), size=min(n, len(images)), replace=False)
    photos = [
        _png(images[i, 0])
        if j % 6 == 5
        else render_photo(images[i, 0], rng, sides=CALIBRATION_SIDES).encode()
        for j, i in enumerate(pick)
    ]
    return read_photos(photos, preprocess, labels[pick])


def _png(plane: np.ndarray) -> bytes:
    """A grey image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(plane).save(buffer, "PNG")
    return buffer.getvalue()


def class_geometry(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class centres (K, D) and the whitening W = Σ^-1/2 of the shared, shrunk within-class covariance.

    Classes without photos here (a small validation split) get no centre.
    """
    present = np.array([k for k in range(num_classes) if (labels == k).any()])
    centres = np.stack([embeddings[labels == k].mean(axis=0) for k in present])
    centred = embeddings - centres[np.searchsorted(present, labels)]
    cov = centred.T @ centred / max(len(embeddings) - num_classes, 1)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / len(cov) * np.eye(len(cov))
    values, vectors = np.linalg.eigh(cov)
    whitening = (vectors / np.sqrt(np.maximum(values, 1e-12))).T
    return centres, whitening


def fit_detector(
    predictor: Predictor,
    products: PhotoSet,
    outliers: PhotoSet,
    features: Sequence[str] = DEFAULT_FEATURES,
    seed: int = 0,
    trees: dict[str, float] | None = None,
    bags: int = BAGS,
) -> tuple[OodDetector, dict[str, float]]:
    """Fit `bags` boosters on halves of the photos and average them; thresholds and measures out of bag.

    The halves come in complementary pairs, so every photo is left out of half of the boosters: its out-of-bag
    score averages those, and sets the thresholds and the returned measures (bags=1: one booster on one half,
    the other half for thresholds and measures). `trees` replaces TREES' settings of the booster
    (bench/ood_kinds.py compares them).
    """
    if bags != 1 and (bags < 2 or bags % 2):
        raise ValueError(f"bags must be 1 or an even number, got {bags}")
    if min(len(products), len(outliers)) < MIN_PHOTOS:
        raise ValueError(
            f"a not-a-product detector needs at least {MIN_PHOTOS} product photos and as many non-products to fit "
            f"on, got {len(products)} and {len(outliers)}"
        )
    rng = np.random.default_rng(seed)
    p_probs, p_emb = model_outputs(predictor, products.arrays)
    o_probs, o_emb = model_outputs(predictor, outliers.arrays)
    # Cross-fitting: each product is measured against the class geometry of the other half of the products (and
    # each outlier against one half's), so none lies in the geometry it is measured against; the stored detector
    # gets the geometry of all of them.
    num_classes = p_probs.shape[1]
    halves = _halves(len(products), rng)
    geometries = [class_geometry(p_emb[h], products.labels[h], num_classes) for h in halves[::-1]]
    x = np.concatenate(
        [
            _crossed_features(features, (p_probs, p_emb), products.cues, halves, geometries),
            _crossed_features(
                features, (o_probs, o_emb), outliers.cues, _halves(len(outliers), rng), geometries
            ),
        ]
    )
    y = np.concatenate([np.zeros(len(products)), np.ones(len(outliers))])
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / scale
    bag_list = _paired_bags(len(products), len(outliers), bags, rng)
    fitted, baselines, scores = _out_of_bag(z, y, bag_list, lambda k: booster(features, trees, seed + k))
    held = ~np.isnan(scores)
    s_p, s_o = scores[held & (y == 0)], scores[held & (y == 1)]
    threshold = flag_threshold(s_p, MAX_FALSE_FLAGS)
    review = min(flag_threshold(s_p, REVIEW_SHARE), threshold)
    centres, whitening = class_geometry(p_emb, products.labels, num_classes)
    detector = OodDetector(
        centres,
        whitening,
        tuple(features),
        mean,
        scale,
        np.zeros(len(features)),
        float(np.mean(baselines)),
        threshold,
        review,
        trees=averaged(fitted),
    )
    return detector, ood_metrics(s_p, s_o, threshold)


def flag_threshold(scores: np.ndarray, share: float) -> float:
    """The lowest threshold at which at most `share` of the scores lie at or above it.

    Ties never push the share over: a detector that scores every photo alike flags none of them.
    """
    ordered = np.sort(np.asarray(scores, np.float64))[::-1]
    allowed = int(np.floor(share * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


def _crossed_features(
    features: Sequence[str],
    outputs: tuple[np.ndarray, np.ndarray],
    cues: Sequence[dict[str, float]],
    parts: Sequence[np.ndarray],
    geometries: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """(N, F) features of photos from their model outputs (probabilities, embeddings) and cues, the photos of
    parts[i] measured against geometries[i] (class centres, whitening)."""
    probs, embeddings = outputs
    n = len(features)
    x = np.zeros((len(probs), n))
    for part, (centres, whitening) in zip(parts, geometries):
        draft = OodDetector(
            centres, whitening, tuple(features), np.zeros(n), np.ones(n), np.zeros(n), 0.0, 1.0, 1.0
        )
        x[part] = draft.features(probs[part], embeddings[part], [cues[i] for i in part])
    return x


def _out_of_bag(
    z: np.ndarray, y: np.ndarray, bags: Sequence[np.ndarray], new_booster: Callable[[int], Any]
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


def _paired_bags(n_products: int, n_outliers: int, bags: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Photo indices (outliers offset by n_products) of each bag: random halves of the products and of the
    outliers, each split giving its two halves in turn (bags=1: one half)."""
    out = []
    for _ in range(max(1, bags // 2)):
        p_a, p_b = _halves(n_products, rng)
        o_a, o_b = _halves(n_outliers, rng)
        out += [np.concatenate([p_a, n_products + o_a]), np.concatenate([p_b, n_products + o_b])]
    return out[:bags]


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


def fit_bundle_detector(
    bundle_dir: str | os.PathLike, val: ImageDataset, n: int = CALIBRATION_PHOTOS, seed: int = 0
) -> dict[str, float]:
    """Fit a saved bundle's detector on photos of its validation garments and synthetic non-products, store it.

    Returns what it measured out of bag (flagged share, false-flag share, AUROC).
    """
    predictor = Predictor(load_bundle(bundle_dir))
    products, outliers = calibration_photos(val.images, val.labels, predictor.bundle.preprocess, n, seed)
    detector, held_out = fit_detector(predictor, products, outliers, seed=seed)
    detector.save(bundle_dir)
    return held_out


def refit_bundle_detector(
    bundle_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
    n: int = CALIBRATION_PHOTOS,
) -> dict[str, float]:
    """Fit an evaluated bundle's detector again with this reader and fitter, on its own validation split.

    Its metrics and model card follow. Returns the held-out measures, as fit_bundle_detector does.
    """
    spec = read_bundle_spec(bundle_dir)
    if spec.preprocess.reader != "photo":
        raise BundleError(
            f"{spec.path} does not read photos: a not-a-product detector needs the photo reader"
        )
    val, seed = validation_split(spec, data_dir, verify)
    held_out = fit_bundle_detector(spec.path, val, n, seed)
    if spec.metrics:  # fitting wrote ood.json only: the metrics read above are still the bundle's
        metrics = {**spec.metrics}
        metrics["extra"] = {
            **metrics.get("extra", {}),
            "ood_held_out": {k: round(v, 4) for k, v in held_out.items()},
        }
        write_json(spec.path / METRICS, metrics)
        if "macro_f1" in metrics:
            write_model_card(spec, metrics)
    return held_out


def validation_split(
    spec: BundleSpec, data_dir: str | os.PathLike | None = None, verify: bool = True
) -> tuple[ImageDataset, int]:
    """(the validation split the bundle was trained with, in memory; its training seed)."""
    from shoplens.inference.export import calibration_data  # onnx and its runtime: only when refitting

    pool, _test = calibration_data(spec, data_dir, verify)
    train_config = spec.config.get("train_config", {})
    seed = int(train_config.get("seed", 0))
    _train, val_idx = stratified_split(pool.labels, float(train_config.get("val_fraction", 0.1)), seed=seed)
    return in_memory(pool.subset(val_idx)), seed


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of range(n) into two halves."""
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative."""
    labels = np.concatenate([np.zeros(len(negatives)), np.ones(len(positives))])
    return float(roc_auc_score(labels, np.concatenate([negatives, positives])))


def ood_metrics(product_scores: np.ndarray, outlier_scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of non-products flagged, share of products falsely flagged, AUROC."""
    return {
        "ood_flagged": float((outlier_scores >= threshold).mean()),
        "ood_false_flag": float((product_scores >= threshold).mean()),
        "ood_auroc": auroc(product_scores, outlier_scores),
    }
