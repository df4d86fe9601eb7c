"""Metric losses on the search embedding: lower for class-clustered features, gradients reach the features."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from shoplens.data import load_fashion_mnist, stratified_split
from shoplens.imaging import PreprocessConfig
from shoplens.models import create_model
from shoplens.training.loop import train_model
from shoplens.training.metric_loss import METRIC_LOSSES, logits_and_features, metric_loss
from shoplens.training.presets import PRESETS

LOSSES = [name for name in METRIC_LOSSES if name != "none"]


def clustered(proxies: torch.Tensor, per_class: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Features scattered around their class's proxy, and their labels."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(len(proxies)).repeat_interleave(per_class)
    feats = proxies[labels] + noise * torch.randn(len(labels), proxies.shape[1], generator=gen)
    return feats, labels


@pytest.mark.parametrize("name", LOSSES)
def test_clustered_features_score_lower_than_mixed_ones(name: str):
    model = create_model("shopnet", num_classes=4)
    with torch.no_grad():
        model.head.weight.copy_(torch.eye(4, model.num_features) * 3)
    feats, labels = clustered(model.head.weight.detach(), per_class=8, noise=0.1)
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    assert metric_loss(name, feats, labels, model) < metric_loss(name, feats, shuffled, model) - 0.5


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_reach_the_features(name: str):
    model = create_model("shopnet", num_classes=3)
    feats = torch.randn(12, model.num_features, requires_grad=True)
    metric_loss(name, feats, torch.arange(3).repeat(4), model).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_supcon_without_any_positive_pair_is_zero():
    model = create_model("shopnet", num_classes=4)
    assert metric_loss("supcon", torch.randn(4, model.num_features), torch.arange(4), model).item() == 0.0


def test_the_features_are_what_the_index_embeds():
    model = create_model("shopnet").eval()
    x = torch.randn(5, 1, 28, 28)
    logits, feats = logits_and_features(model, x)
    assert torch.allclose(feats, model.forward_features(x)) and torch.allclose(logits, model(x))


def test_unknown_loss_is_refused():
    model = create_model("shopnet")
    with pytest.raises(ValueError, match="unknown metric loss 'triplet'"):
        metric_loss("triplet", torch.randn(4, model.num_features), torch.arange(4), model)


def test_the_default_presets_train_the_embedding():
    assert (
        PRESETS["fast"].metric_loss != "none" and PRESETS["best"].metric_loss == PRESETS["fast"].metric_loss
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", LOSSES)
def test_training_with_each_metric_loss_learns(name: str, fmnist_dir):
    pool = load_fashion_mnist("train", fmnist_dir, verify=False)
    tr, va = stratified_split(pool.labels, 0.2, seed=0)
    cfg = dataclasses.replace(
        PRESETS["fast"], epochs=4, batch_size=32, lr=0.05, threads=1, outlier_share=0.0, metric_loss=name
    )
    result = train_model(
        cfg, pool.subset(tr), pool.subset(va), PreprocessConfig(mean=(0.2,), std=(0.3,)), progress=False
    )
    assert result.history[-1]["val_acc"] > 0.5  # the synthetic classes are easy; chance is 0.1
