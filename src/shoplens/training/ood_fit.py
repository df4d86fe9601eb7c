"""Fit the "not a product" detector of shoplens.inference.ood on validation photos and synthetic non-products."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from shoplens.data import ImageDataset, stratified_split
from shoplens.data.stream import in_memory
from shoplens.errors import BundleError
from shoplens.imaging import PreprocessConfig
from shoplens.imaging.photo import CUE_NAMES
from shoplens.imaging.preprocess import read_encoded
from shoplens.inference.ood import MODEL_FEATURES, OodDetector
from shoplens.inference.predictor import Predictor
from shoplens.inference.projection import category_spread, inverse_sqrt
from shoplens.models.bundle import METRICS, BundleSpec, load_bundle, read_bundle_spec, write_json
from shoplens.processes import map_in_workers, usable_cpus
from shoplens.training.card import write_model_card
from shoplens.training.ood_boost import averaged, booster, out_of_bag
from shoplens.training.outlier_synth import render_outlier
from shoplens.training.photo_synth import render_photo

DEFAULT_FEATURES = (*MODEL_FEATURES, *CUE_NAMES)
SHRINKAGE = 0.1  # covariance shrinkage towards its mean variance, for a stable whitening
MAX_FALSE_FLAGS = 0.025  # share of validation product photos allowed to be flagged "not recognised"
CALIBRATION_PHOTOS = 2000  # product photos, and as many non-products, read to fit a bundle's detector
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
    sources: np.ndarray | None = None  # the garment each photo shows, as a position in the images rendered

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> PhotoSet:
        """The photos at the given positions."""
        sources = None if self.sources is None else self.sources[index]
        return PhotoSet(self.arrays[index], [self.cues[i] for i in index], self.labels[index], sources)


def model_outputs(
    predictor: Predictor, arrays: np.ndarray, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities (N, K) and L2-normalised embeddings (N, D), exactly as serving computes them."""
    outs = [predictor.run(arrays[i : i + batch_size]) for i in range(0, len(arrays), batch_size)]
    return np.concatenate([p for p, _ in outs]), np.concatenate([e for _, e in outs])


def read_photos(photos: Sequence[bytes], preprocess: PreprocessConfig, labels: Sequence[int]) -> PhotoSet:
    """Encoded photos read through the serving path (decoded as /v1/classify decodes, then preprocessed), on every
    usable CPU."""
    # each decoded only when read: a few thousand decoded 2000-px photos would not fit in memory
    reads = map_in_workers(partial(read_encoded, cfg=preprocess), photos, usable_cpus())
    return PhotoSet(np.stack([x for x, _ in reads]), [cue for _, cue in reads], np.asarray(labels, np.int64))


def calibration_photos(
    images: np.ndarray, labels: np.ndarray, preprocess: PreprocessConfig, n: int, seed: int = 0
) -> tuple[PhotoSet, PhotoSet]:
    """(product photos of validation garments, synthetic non-products), up to n of each, from the training renderers.

    Most products are rendered as shop photos; one in six is the garment itself as a PNG, light on dark or (every
    other one) dark on light, as thumbnails and the demo catalogue store it.
    """
    rng = np.random.default_rng(seed)
    products = product_photos(images, labels, preprocess, n, rng)
    outliers = [render_outlier(rng, sides=CALIBRATION_SIDES).encode() for _ in range(len(products))]
    return products, read_photos(outliers, preprocess, [-1] * len(products))


def product_photos(
    images: np.ndarray, labels: np.ndarray, preprocess: PreprocessConfig, n: int, rng: np.random.Generator
) -> PhotoSet:
    """Up to n validation garments rendered by the training renderer, one in six as a PNG of the garment itself
    (light on dark, or dark on light for every other one), read."""
    pick = rng.choice(len(images), size=min(n, len(images)), replace=False)
    photos = [
        _png(images[i, 0] if j % 12 == 5 else 255 - images[i, 0])
        if j % 6 == 5
        else render_photo(images[i, 0], rng, sides=CALIBRATION_SIDES).encode()
        for j, i in enumerate(pick)
    ]
    read = read_photos(photos, preprocess, labels[pick])
    return PhotoSet(read.arrays, read.cues, read.labels, pick)


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
    _, centres, centred = category_spread(embeddings, labels)
    cov = centred.T @ centred / max(len(embeddings) - num_classes, 1)
    return centres, inverse_sqrt(cov, SHRINKAGE)


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
    the other half for thresholds and measures). `trees` replaces ood_boost.TREES' settings of the booster
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
    fitted, baselines, scores = out_of_bag(z, y, bag_list, lambda k: booster(features, trees, seed + k))
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


def _paired_bags(n_products: int, n_outliers: int, bags: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Photo indices (outliers offset by n_products) of each bag: random halves of the products and of the
    outliers, each split giving its two halves in turn (bags=1: one half)."""
    out = []
    for _ in range(max(1, bags // 2)):
        p_a, p_b = _halves(n_products, rng)
        o_a, o_b = _halves(n_outliers, rng)
        out += [np.concatenate([p_a, n_products + o_a]), np.concatenate([p_b, n_products + o_b])]
    return out[:bags]


def fit_bundle_detector(
    bundle_dir: str | os.PathLike,
    val: ImageDataset,
    n: int = CALIBRATION_PHOTOS,
    seed: int = 0,
    photos: tuple[PhotoSet, PhotoSet] | None = None,
) -> dict[str, float]:
    """Fit a saved bundle's detector on photos of its validation garments and synthetic non-products, store it.

    `photos` are calibration_photos' (product photos, non-products) when already read. Returns what it measured
    out of bag (flagged share, false-flag share, AUROC).
    """
    predictor = Predictor(load_bundle(bundle_dir))
    products, outliers = photos or calibration_photos(
        val.images, val.labels, predictor.bundle.preprocess, n, seed
    )
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
