"""The "not a product" detector: features, score, status, storage."""

from __future__ import annotations

import numpy as np
import pytest

from shoplens.inference.ood import (
    NEEDS_REVIEW,
    NOT_RECOGNISED,
    RECOGNISED,
    OodDetector,
    load_detector,
)
from shoplens.inference.trees import LEAF, BoostedTrees


def detector(threshold: float = 0.8, review: float = 0.5) -> OodDetector:
    """Two classes in a 2-D embedding; the score rises with the Mahalanobis distance only."""
    names = ("mahalanobis", "fg_share")
    return OodDetector(
        centres=np.array([[1.0, 0.0], [0.0, 1.0]]),
        whitening=np.eye(2) * 4,
        feature_names=names,
        mean=np.array([1.0, 0.0]),
        scale=np.array([0.5, 1.0]),
        weights=np.array([3.0, 0.0]),
        bias=0.0,
        threshold=threshold,
        review=review,
    )


def test_far_embeddings_score_higher_than_near_ones() -> None:
    det = detector()
    probs = np.full((3, 2), 0.5)
    emb = np.array([[1.0, 0.0], [0.0, 1.05], [3.0, 3.0]])
    scores = det.score(probs, emb, [{}, {}, {}])
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert scores[2] > 0.9 > max(scores[0], scores[1])


def test_model_features_are_what_they_say() -> None:
    det = detector()
    probs = np.array([[0.9, 0.1], [0.5, 0.5]])
    f = det.model_features(probs, np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert f["max_prob"].tolist() == [0.9, 0.5]
    assert f["entropy"][1] == pytest.approx(np.log(2))
    assert f["entropy"][0] < f["entropy"][1]
    assert f["mahalanobis"][0] == pytest.approx(0.0)
    assert f["centre_cosine"][1] == pytest.approx(np.sqrt(0.5))


def test_cues_fill_the_photo_features() -> None:
    det = detector()
    x = det.features(np.zeros((2, 2)), np.ones((2, 2)), [{"fg_share": 0.25}, {}])
    assert x[:, 1].tolist() == [0.25, 0.0]


def test_status_follows_thresholds_and_review() -> None:
    det = detector(threshold=0.8, review=0.5)
    assert det.status(0.9, needs_review=False) == NOT_RECOGNISED
    assert det.status(0.6, needs_review=False) == NEEDS_REVIEW
    assert det.status(0.1, needs_review=True) == NEEDS_REVIEW
    assert det.status(0.1, needs_review=False) == RECOGNISED


def test_round_trip_through_the_bundle_folder(tmp_path) -> None:
    assert load_detector(tmp_path) is None
    det = detector()
    det.save(tmp_path)
    back = load_detector(tmp_path)
    emb = np.array([[0.3, 0.2]])
    assert back.score(np.zeros((1, 2)), emb, [{}]) == pytest.approx(det.score(np.zeros((1, 2)), emb, [{}]))
    assert back.threshold == det.threshold and back.feature_names == det.feature_names


def test_inconsistent_parameters_are_refused() -> None:
    data = detector().to_dict()
    data["whitening"] = [[1.0]]
    with pytest.raises(ValueError):
        OodDetector.from_dict(data)


def stump(feature: int, threshold: float, low: float, high: float) -> BoostedTrees:
    """One tree of one split: `low` at or under the threshold, `high` above it."""
    return BoostedTrees(
        feature=np.array([[feature, LEAF, LEAF]]),
        threshold=np.array([[threshold, 0.0, 0.0]]),
        left=np.array([[1, 1, 2]]),
        right=np.array([[2, 1, 2]]),
        value=np.array([[0.0, low, high]]),
        learning_rate=1.0,
    )


def test_trees_add_to_the_linear_part_and_survive_storage(tmp_path) -> None:
    base = detector()
    det = OodDetector(**{**base.__dict__, "weights": np.zeros(2), "trees": stump(1, 0.5, -10.0, 10.0)})
    probs, emb = np.full((2, 2), 0.5), np.array([[1.0, 0.0], [1.0, 0.0]])
    scores = det.score(probs, emb, [{"fg_share": 0.0}, {"fg_share": 1.0}])  # z = fg_share: 0 and 1
    assert scores[0] < 0.001 and scores[1] > 0.999
    det.save(tmp_path)
    back = load_detector(tmp_path)
    assert back.trees is not None
    assert back.score(probs[:1], emb[:1], [{"fg_share": 1.0}]) == pytest.approx(scores[1:])


def test_trees_that_test_a_missing_feature_are_refused() -> None:
    base = detector()
    data = OodDetector(**{**base.__dict__, "trees": stump(5, 0.0, 0.0, 1.0)}).to_dict()
    with pytest.raises(ValueError, match="feature"):
        OodDetector.from_dict(data)
    data["trees"]["left"] = [[7, 1, 2]]
    with pytest.raises(ValueError, match="child"):
        BoostedTrees.from_dict(data["trees"])
