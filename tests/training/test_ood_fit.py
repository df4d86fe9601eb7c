"""Fitting a bundle's "not a product" detector on photos of validation garments and synthetic non-products."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.data import stratified_split
from shoplens.errors import BundleError
from shoplens.imaging import decode_image
from shoplens.inference import Predictor
from shoplens.inference.export import calibration_data
from shoplens.inference.ood import load_detector
from shoplens.models.bundle import load_bundle, read_bundle_spec
from shoplens.training.ood_boost import TREES
from shoplens.training.ood_fit import (
    BAGS,
    MIN_PHOTOS,
    PhotoSet,
    auroc,
    calibration_photos,
    fit_bundle_detector,
    fit_detector,
    flag_threshold,
    model_outputs,
    read_photos,
    refit_bundle_detector,
    validation_split,
)
from tests.support.bundles import PHOTO_PRE, bundle_of_garment_folder, garments, make_bundle


def test_calibration_photos_are_read_as_classify_reads_them(tmp_path) -> None:
    predictor = Predictor(load_bundle(make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)))
    rng = np.random.default_rng(1)
    canvas = np.full((900, 1200, 3), 235, np.uint8)
    canvas[150:750, 400:850] = rng.integers(20, 120, (600, 450, 3))  # a dark, finely textured garment
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    read = read_photos([data], predictor.bundle.preprocess, [3])
    served, cues = predictor.read(decode_image(data, at_least=predictor.decode_side))  # as /v1/classify
    assert np.array_equal(read.arrays[0], served) and read.cues == [cues] and read.labels.tolist() == [3]
    whole, _ = predictor.read(decode_image(data))
    assert not np.array_equal(whole, served)  # the reduced decode is not a no-op for this photo


def test_the_detector_is_fitted_stored_and_served(tmp_path) -> None:
    path = make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)
    held_out = fit_bundle_detector(path, garments(30), n=24)
    assert set(held_out) == {"ood_flagged", "ood_false_flag", "ood_auroc"}
    assert all(0 <= v <= 1 for v in held_out.values())
    detector = load_detector(path)
    assert detector is not None and 0 < detector.review <= detector.threshold <= 1
    assert Predictor(load_bundle(path)).ood is not None


def test_the_fit_is_measured_and_thresholded_on_photos_its_boosters_did_not_see(tmp_path) -> None:
    """Products and "non-products" drawn alike: boosters tell their own photos apart, never unseen ones."""
    predictor = Predictor(load_bundle(make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)))
    data = garments(160)
    photos, _ = calibration_photos(data.images, data.labels, predictor.bundle.preprocess, 160)
    first, second = np.arange(0, 160, 2), np.arange(1, 160, 2)
    products = photos.subset(first)
    alike = PhotoSet(photos.arrays[second], [photos.cues[i] for i in second], np.full(80, -1))
    detector, held_out = fit_detector(predictor, products, alike, bags=4)
    assert held_out["ood_auroc"] < 0.75  # chance, give or take 80 + 80 photos' noise
    probs, emb = model_outputs(predictor, np.concatenate([products.arrays, alike.arrays]))
    seen = detector.score(probs, emb, products.cues + alike.cues)
    assert auroc(seen[:80], seen[80:]) > 0.8  # the averaged boosters did learn the photos they saw
    assert held_out["ood_false_flag"] == pytest.approx(0.025, abs=0.02)
    again, _ = fit_detector(predictor, products, alike, bags=4)
    assert again.to_dict() == detector.to_dict()  # seeded: the same halves and boosters
    for bags in (0, 3):
        with pytest.raises(ValueError, match="bags"):
            fit_detector(predictor, products, alike, bags=bags)


def test_thresholds_flag_at_most_their_share_whatever_the_ties() -> None:
    scores = np.linspace(0.0, 1.0, 200)
    assert (scores >= flag_threshold(scores, 0.025)).sum() == 5  # 2.5 % of 200
    tied = np.r_[np.full(190, 0.3), np.linspace(0.5, 0.9, 10)]
    assert (tied >= flag_threshold(tied, 0.03)).sum() == 6
    assert (
        tied >= flag_threshold(tied, 0.10)
    ).sum() == 10  # 20 allowed, but the 11th is tied with 189 others
    assert (np.full(50, 0.5) >= flag_threshold(np.full(50, 0.5), 0.025)).sum() == 0


def test_a_detector_fitted_on_too_few_photos_flags_nothing_or_refuses(tmp_path) -> None:
    """Ten photos of each kind are too few for a single split (20 per leaf): the trees stay flat, and a flat
    score must not send every product to "not recognised"."""
    predictor = Predictor(load_bundle(make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)))
    data = garments(10)
    products, outliers = calibration_photos(data.images, data.labels, predictor.bundle.preprocess, 10)
    detector, held_out = fit_detector(predictor, products, outliers)
    probs, emb = model_outputs(predictor, products.arrays)
    scores = detector.score(probs, emb, products.cues)
    assert np.ptp(scores) < 1e-9  # flat indeed
    assert (scores < detector.threshold).all() and held_out["ood_false_flag"] == 0.0
    few = products.subset(np.arange(MIN_PHOTOS - 1))
    with pytest.raises(ValueError, match=f"at least {MIN_PHOTOS} product photos"):
        fit_detector(predictor, few, outliers)


def test_refit_fits_again_on_the_bundles_own_validation_split(tmp_path) -> None:
    path = bundle_of_garment_folder(tmp_path)
    (path / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "extra": {"epochs": 3}}))
    assert load_detector(path) is None
    held_out = refit_bundle_detector(path, n=20)
    detector = load_detector(path)
    assert detector is not None and detector.trees is not None
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["extra"]["ood_held_out"] == {k: round(v, 4) for k, v in held_out.items()}
    assert metrics["extra"]["epochs"] == 3  # the rest of the evaluation is kept


def test_refit_refuses_a_bundle_that_does_not_read_photos(tmp_path) -> None:
    path = make_bundle(tmp_path, "v1", seed=0)
    with pytest.raises(BundleError, match="photo reader"):
        refit_bundle_detector(path, n=10)


def test_refit_from_the_command_line(tmp_path) -> None:
    bundle_of_garment_folder(tmp_path, per_class=4)
    runner = CliRunner()
    args = ["models", "refit-detector", "v1", "--models-dir", str(tmp_path / "models")]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "detector refitted" in done.output and "AUROC" in done.output and "--refresh" in done.output
    missing = runner.invoke(app, ["models", "refit-detector", "v9", "--models-dir", str(tmp_path / "models")])
    assert missing.exit_code != 0 and "no version 'v9'" in missing.output


def test_tree_settings_and_features_can_be_chosen_per_fit(tmp_path) -> None:
    predictor = Predictor(load_bundle(make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)))
    data = garments(30)
    products, outliers = calibration_photos(data.images, data.labels, predictor.bundle.preprocess, 24)
    default, _ = fit_detector(predictor, products, outliers)
    small, _ = fit_detector(
        predictor, products, outliers, features=("bg_spread", "fg_share"), trees={"max_iter": 7}
    )
    assert len(default.trees.value) == BAGS * TREES["max_iter"] and len(small.trees.value) == BAGS * 7
    assert small.feature_names == ("bg_spread", "fg_share")


def test_validation_split_is_the_one_the_bundle_was_trained_with(tmp_path) -> None:
    path = bundle_of_garment_folder(tmp_path)
    spec = read_bundle_spec(path)
    val, seed = validation_split(spec)
    pool, test = calibration_data(spec, None, True)
    _train, val_idx = stratified_split(pool.labels, 0.5, seed=0)  # the bundle's val_fraction and seed
    assert seed == 0 and np.array_equal(val.images, pool.images[val_idx])
    assert not {img.tobytes() for img in val.images} & {img.tobytes() for img in test.images}


def test_calibration_holds_garment_thumbnails_of_both_polarities(tmp_path) -> None:
    """Shops' thumbnails and the demo catalogue store garments dark on light: light on dark alone, the detector
    called 13 % of the demo catalogue "not a product" (0 % of the same images inverted)."""
    predictor = Predictor(load_bundle(make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)))
    data = garments(24)
    products, _ = calibration_photos(data.images, data.labels, predictor.bundle.preprocess, 24)
    levels = [round(products.cues[j]["bg_level"]) for j in (5, 11, 17, 23)]  # every sixth: the garment itself
    assert levels == [0, 1, 0, 1]
