"""The detector's boosted trees: fitted with their constraints, stored as arrays, averaged."""

from __future__ import annotations

import json

import numpy as np

from shoplens.inference.trees import BoostedTrees
from shoplens.training.ood_boost import TREES, averaged, booster, prior_log_odds, trees_of


def test_the_stored_trees_score_exactly_as_the_fitted_booster() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = (x[:, 2] * x[:, 3] + x[:, 1] ** 2 - x[:, 0] > 1).astype(
        float
    )  # an interaction no linear model captures
    boosted = booster(("max_prob", "entropy", "bg_spread", "fg_share")).fit(x, y)
    trees = trees_of(boosted)
    assert len(trees.value) == TREES["max_iter"]
    probe = rng.normal(size=(300, 4))
    expected = boosted.decision_function(probe)
    assert np.allclose(trees.raw(probe) + prior_log_odds(y), expected, atol=1e-9)
    back = BoostedTrees.from_dict(json.loads(json.dumps(trees.to_dict())))
    assert np.allclose(back.raw(probe), trees.raw(probe))


def test_averaged_trees_score_the_mean_of_their_forests() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(float)
    names = ("bg_spread", "fg_share", "solidity")
    forests = [
        trees_of(booster(names, {"max_depth": 2, "max_iter": 5}).fit(x, y)),
        trees_of(booster(names, {"max_depth": 4, "max_iter": 9}).fit(x, y)),  # wider trees: padded
        trees_of(booster(names, {"max_iter": 3, "learning_rate": 0.3}).fit(x[:200], y[:200])),
    ]
    probe = rng.normal(size=(100, 3))
    mean = np.mean([f.raw(probe) for f in forests], axis=0)
    together = averaged(forests)
    assert len(together.value) == 17 and np.allclose(together.raw(probe), mean, atol=1e-12)


def test_low_confidence_always_counts_towards_not_a_product() -> None:
    """Monotone in the model's features, which never share a tree with the photo's cues."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 4))
    # in the training data, outliers are told apart by a cue alone where x[:, 2] > 1: the model feature is noise there
    y = np.where(x[:, 2] > 1, x[:, 3] > 0, x[:, 0] < -0.5).astype(float)
    trees = trees_of(booster(("max_prob", "centre_cosine", "bg_spread", "fg_share")).fit(x, y))
    probe = rng.normal(size=(200, 4))
    surer = probe.copy()
    surer[:, 0] += 1.0  # more confident, all else equal
    assert (trees.raw(surer) <= trees.raw(probe) + 1e-12).all()
    shift = trees.raw(surer) - trees.raw(probe)
    cues_moved = probe.copy()
    cues_moved[:, 2] += 2.0  # the confidence effect does not depend on the cues (no shared trees)
    cues_surer = cues_moved.copy()
    cues_surer[:, 0] += 1.0
    assert np.allclose(trees.raw(cues_surer) - trees.raw(cues_moved), shift)
    assert shift.min() < 0  # and it is there at all
    free = booster(("max_prob", "bg_spread"), {"constrained": 0})
    assert free.monotonic_cst is None and free.interaction_cst is None
