"""Predictions with the bundle's "not a product" detector: a score and a status per photo."""

from __future__ import annotations

import torch

from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.imaging import images_to_batch
from shoplens.inference import Predictor
from shoplens.models import Bundle, create_model
from tests.support.bundles import PHOTO_PRE, add_detector
from tests.support.images import checkerboard, product_photo


def photo_bundle(path) -> Bundle:
    torch.manual_seed(0)
    return Bundle(path, {}, PHOTO_PRE, list(CLASS_NAMES), review_threshold=0.0, model=create_model("shopnet"))


def test_photos_get_an_ood_score_and_a_status(tmp_path) -> None:
    add_detector(tmp_path)
    product, other = Predictor(photo_bundle(tmp_path)).predict_images([product_photo(), checkerboard()])
    assert product.status == "recognised" and not product.needs_review and product.ood_score < 0.3
    assert other.status == "not_recognised" and other.needs_review and other.ood_score > 0.5
    assert product.embedding is None  # not asked for


def test_without_a_detector_or_cues_the_status_follows_the_review_flag(tmp_path) -> None:
    (pred,) = Predictor(photo_bundle(tmp_path)).predict_images([checkerboard()])
    assert pred.ood_score is None and pred.status == "recognised"
    add_detector(tmp_path)
    batch = images_to_batch([checkerboard()], PHOTO_PRE)
    assert Predictor(photo_bundle(tmp_path)).predict_arrays(batch)[0].ood_score is None  # no photo cues


def test_scores_computed_for_a_whole_batch_are_each_photos_own(tmp_path) -> None:
    add_detector(tmp_path)
    predictor = Predictor(photo_bundle(tmp_path))
    batch, cues = predictor.read_batch([product_photo(), checkerboard(), product_photo((80, 140))])
    probs, emb = predictor.run(batch)
    cues[2] = {}  # a row without photo cues gets no score, whatever the others get
    together = predictor.predictions(probs, emb, cues)
    alone = [predictor.prediction(p, e, cues=c) for p, e, c in zip(probs, emb, cues)]
    assert [(p.top, p.ood_score, p.status) for p in together] == [
        (p.top, p.ood_score, p.status) for p in alone
    ]
    assert together[0].status == "recognised" and together[1].status == "not_recognised"
    assert together[2].ood_score is None
