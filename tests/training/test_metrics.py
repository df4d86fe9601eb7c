"""Metrics against scikit-learn and hand-computed values on small known inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

from shoplens.inference.predictor import softmax
from shoplens.training.metrics import (
    MIN_ACCEPTED_ACCURACY,
    choose_review_threshold,
    classification_metrics,
    describe_estimate,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    review_stats,
)


def _probs_from_confidences(conf: list[float], pred: list[int], k: int = 4) -> np.ndarray:
    """Rows whose max probability is conf at column pred, the rest spread evenly."""
    rows = []
    for c, p in zip(conf, pred):
        row = np.full(k, (1.0 - c) / (k - 1))
        row[p] = c
        rows.append(row)
    return np.array(rows)


@pytest.fixture(scope="module")
def calibrated() -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): calibrated at temperature 1."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 2.0
    probs = softmax(logits)
    labels = (rng.random((len(probs), 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
    return logits, np.minimum(labels, 4)


def test_classification_metrics_hand_computed() -> None:
    y = np.array([0, 1, 2, 2])
    probs = np.array(
        [
            [0.7, 0.2, 0.1],  # right
            [0.1, 0.8, 0.1],  # right
            [0.6, 0.3, 0.1],  # wrong: predicts 0, true 2 is third
            [0.2, 0.2, 0.6],  # right
        ]
    )
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["top3_accuracy"] == pytest.approx(1.0)  # k = min(3, K) = 3 covers every class
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert m["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["per_class"]["c"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert m["macro_precision"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.1, 0.6])))
    assert m["num_samples"] == 4
    assert m["labels"] == ["a", "b", "c"]
    assert json.loads(json.dumps(m)) == m


def test_label_order_is_class_index_order_even_through_sorted_json() -> None:
    names = ["Zip", "Bag", "Ankle"]  # sorted, the per_class keys would read Ankle, Bag, Zip
    m = classification_metrics(np.array([0, 0, 1, 2]), np.eye(3)[[0, 1, 1, 2]], names)
    written = json.loads(json.dumps(m, sort_keys=True))
    assert list(written["per_class"]) == ["Ankle", "Bag", "Zip"] and written["labels"] == names
    row = written["labels"].index("Zip")
    assert written["confusion_matrix"][row] == [1, 1, 0]  # the Zip row, found through labels


def test_tiny_sets_get_no_interval_and_a_perfect_nll_is_never_negative_zero() -> None:
    probs, y = np.eye(3)[np.arange(27) % 3], np.arange(27) % 3
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert math.copysign(1.0, m["nll"]) == 1.0 and m["nll_interval"] is None and m["ece_interval"] is None
    assert describe_estimate(m, "nll") == "n too small (27 samples)"
    assert "-0.0000" not in describe_estimate({**m, "nll_interval": [0.0, 0.0]}, "nll")


def test_large_sets_get_a_bootstrap_interval_around_the_estimate() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 4)) + 2.0 * np.eye(4)[np.arange(400) % 4]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = classification_metrics(np.arange(400) % 4, probs, list("abcd"))
    for key in ("nll", "ece"):
        low, high = m[f"{key}_interval"]
        assert low <= m[key] <= high and high - low > 0
    assert describe_estimate(m, "ece").startswith(f"{m['ece']:.4f} (95 % CI ")


def test_classification_metrics_match_sklearn_and_top3() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, size=200)
    probs = softmax(rng.normal(size=(200, 6)) + 2.0 * np.eye(6)[y])
    pred = probs.argmax(axis=1)
    m = classification_metrics(y, probs, [f"c{i}" for i in range(6)])
    kw = {"labels": list(range(6)), "average": "macro", "zero_division": 0}
    assert m["macro_precision"] == pytest.approx(precision_score(y, pred, **kw))
    assert m["macro_recall"] == pytest.approx(recall_score(y, pred, **kw))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, **kw))
    assert m["confusion_matrix"] == confusion_matrix(y, pred, labels=list(range(6))).tolist()
    top3 = np.argsort(-probs, axis=1)[:, :3]
    assert m["top3_accuracy"] == pytest.approx(np.mean([y[i] in top3[i] for i in range(200)]))
    assert m["top3_accuracy"] > m["accuracy"]


def test_absent_class_scores_zero_without_warning() -> None:
    y = np.array([0, 0, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    m = classification_metrics(y, probs, ["x", "y", "never"])
    assert m["per_class"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert len(m["confusion_matrix"]) == 3


def test_classification_metrics_rejects_bad_input() -> None:
    probs = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="class names"):
        classification_metrics(np.array([0, 1]), probs, ["a", "b"])
    with pytest.raises(ValueError, match="y_true values"):
        classification_metrics(np.array([0, 3]), probs, ["a", "b", "c"])


def test_ece_hand_computed() -> None:
    # Two samples at confidence 0.9 (one right) and two at 0.6 (both right), 10 bins.
    probs = _probs_from_confidences([0.9, 0.9, 0.6, 0.6], [0, 1, 2, 3])
    y = np.array([0, 0, 2, 3])
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(probs, y, n_bins=10) == pytest.approx(expected)
    perfect = _probs_from_confidences([1.0, 1.0], [0, 1])
    assert expected_calibration_error(perfect, np.array([0, 1])) == pytest.approx(0.0)


def test_reliability_bins_counts_and_empty_bins() -> None:
    probs = _probs_from_confidences([0.95, 0.9, 0.55, 1.0], [0, 1, 2, 3])
    y = np.array([0, 0, 2, 3])
    bins = reliability_bins(probs, y, n_bins=5)
    assert bins["bin_lower"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert bins["bin_upper"] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert bins["count"] == [0, 0, 1, 0, 3]
    assert bins["confidence"][0] is None and bins["accuracy"][3] is None
    assert bins["confidence"][4] == pytest.approx((0.95 + 0.9 + 1.0) / 3)
    assert bins["accuracy"][4] == pytest.approx(2 / 3)
    assert bins["accuracy"][2] == pytest.approx(1.0)


def test_fit_temperature_recovers_overconfidence(calibrated) -> None:
    logits, y = calibrated
    hot = logits * 3.0
    t = fit_temperature(hot, y)
    assert t == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(hot, y) == t
    before = expected_calibration_error(softmax(hot), y)
    after = expected_calibration_error(softmax(hot, temperature=t), y)
    assert after < before / 2


def test_fit_temperature_sharpens_underconfident_logits(calibrated) -> None:
    logits, y = calibrated
    assert fit_temperature(logits / 2.0, y) == pytest.approx(0.5, rel=0.1)


def test_fit_temperature_stays_positive_and_finite_when_all_wrong() -> None:
    logits = -5.0 * np.eye(3)[[0, 1, 2, 0]]
    t = fit_temperature(logits, np.array([0, 1, 2, 0]))
    assert np.isfinite(t) and t > 1.0


# Confidences 0.99 right, 0.95 right, 0.90 wrong, 0.80 right, 0.60 wrong.
_CONF = [0.99, 0.95, 0.90, 0.80, 0.60]
_PROBS = _probs_from_confidences(_CONF, [0, 1, 2, 3, 0])
_Y = np.array([0, 1, 0, 3, 1])


@pytest.mark.parametrize(
    ("target", "expected"),
    [(0.98, 0.95), (1.0, 0.95), (0.7, 0.80), (0.6, 0.0), (0.5, 0.0)],
)
def test_choose_review_threshold_known(target: float, expected: float) -> None:
    assert choose_review_threshold(_PROBS, _Y, target) == pytest.approx(expected)


def test_choose_review_threshold_unreachable_maximises_accepted_accuracy() -> None:
    probs = _probs_from_confidences([0.99, 0.9, 0.8, 0.7], [1, 1, 2, 1])
    y = np.array([0, 1, 2, 0])  # accepted accuracy by threshold: 0/1, 1/2, 2/3, 2/4
    assert choose_review_threshold(probs, y, 0.99) == pytest.approx(0.8)


def test_a_model_wrong_more_often_than_right_at_every_confidence_reviews_everything() -> None:
    """A near-chance model (forced active) called its answers 'recognised' from p 0.10 on, while its accepted
    answers were right 6 % of the time."""
    probs = _probs_from_confidences([0.99, 0.9, 0.8, 0.7], [1, 1, 2, 1])
    y = np.array([0, 0, 0, 1])  # accepted accuracy by threshold: 0/1, 0/2, 0/3, 1/4
    assert choose_review_threshold(probs, y, 0.98) == 1.0


def test_choose_review_threshold_keeps_ties_together() -> None:
    # Two predictions tie at 0.9, one right and one wrong: no threshold accepts only the right one,
    # so accepted accuracy is 1/2 at 0.9 and 2/3 at 0.5; a per-sample scan would wrongly pick 0.9.
    probs = _probs_from_confidences([0.9, 0.9, 0.5], [0, 1, 2])
    y = np.array([0, 0, 2])
    t = choose_review_threshold(probs, y, 0.75)
    assert t == pytest.approx(0.5)
    assert review_stats(probs, y, 0.9)["accepted_accuracy"] == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=30),
    st.sampled_from([0.5, 0.8, 0.95, 1.0]),
)
def test_choose_review_threshold_is_smallest_reaching(samples, target) -> None:
    conf = [0.4 + 0.6 * c / 20 for c, _ in samples]
    y = np.array([0 if right else 1 for _, right in samples])
    probs = _probs_from_confidences(conf, [0] * len(conf), k=3)
    t = choose_review_threshold(probs, y, target)
    candidates = sorted({0.0, *conf})
    accepted = {c: review_stats(probs, y, c)["accepted_accuracy"] for c in candidates}
    reaching = [c for c in candidates if accepted[c] is not None and accepted[c] >= target - 1e-12]
    best = max(a for a in accepted.values() if a is not None)
    if reaching:
        assert t == pytest.approx(reaching[0])
    elif best < MIN_ACCEPTED_ACCURACY:
        assert t == 1.0  # every answer reviewed
    else:
        assert accepted[t] == pytest.approx(best)


def test_review_stats_hand_computed() -> None:
    s = review_stats(_PROBS, _Y, 0.92)
    assert s["threshold"] == 0.92
    assert s["flagged_count"] == 3 and s["flagged_share"] == pytest.approx(0.6)
    assert s["error_count"] == 2 and s["errors_caught_share"] == pytest.approx(1.0)
    assert s["accepted_accuracy"] == pytest.approx(1.0)
    s = review_stats(_PROBS, _Y, 0.85)  # flags 0.80 (right) and 0.60 (wrong)
    assert s["errors_caught_share"] == pytest.approx(0.5)
    assert s["accepted_accuracy"] == pytest.approx(2 / 3)
    assert json.loads(json.dumps(s)) == s


def test_review_stats_without_errors_or_accepted() -> None:
    probs = _probs_from_confidences([0.9, 0.7], [0, 1])
    s = review_stats(probs, np.array([0, 1]), 0.8)
    assert s["error_count"] == 0 and s["errors_caught_share"] == 0.0
    assert review_stats(probs, np.array([0, 1]), 0.95)["accepted_accuracy"] is None


def test_hold_out_labels_are_matched_to_the_bundle_by_name() -> None:
    """A hold-out folder's categories come sorted; a bundle's in training order (it was refused as 'differing')."""
    from shoplens.data import ImageDataset
    from shoplens.errors import ShopLensError
    from shoplens.training.evaluate import in_bundle_order

    images = np.zeros((3, 1, 4, 4), np.uint8)
    held = ImageDataset(images, np.array([0, 1, 1]), ["Bag", "Trouser"])
    ordered = in_bundle_order(held, ["T-shirt/top", "Trouser", "Bag"])
    assert ordered.class_names == ["T-shirt/top", "Trouser", "Bag"] and ordered.labels.tolist() == [2, 1, 1]
    with pytest.raises(ShopLensError, match="does not know: 'Hat'"):
        in_bundle_order(ImageDataset(images, np.array([0, 0, 0]), ["Hat"]), ["Bag", "Trouser"])
