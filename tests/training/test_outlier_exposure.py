"""Outlier exposure: synthetic non-products at model input size, the uniform loss, and training with both."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from shoplens.data import load_fashion_mnist, stratified_split
from shoplens.imaging import PreprocessConfig
from shoplens.training.loop import train_model
from shoplens.training.outlier_exposure import synthetic_outliers, uniform_loss
from shoplens.training.photo_augment import PhotoAugmentConfig
from shoplens.training.presets import PRESETS, TrainConfig


def test_outliers_have_the_garments_shape_and_vary() -> None:
    garments = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    out = synthetic_outliers(garments, torch.Generator().manual_seed(0))
    assert out.shape == garments.shape and out.dtype == torch.uint8
    assert out.float().flatten(1).std(1).gt(1).float().mean() > 0.8  # nearly all show something
    again = synthetic_outliers(garments, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_outliers_are_drawn_on_the_device_the_garments_are_on() -> None:
    garments = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8).to("meta")  # mixing devices raises
    out = synthetic_outliers(garments, torch.Generator().manual_seed(0))
    assert out.device.type == "meta" and out.shape == garments.shape and out.dtype == torch.uint8


def test_uniform_loss_is_lowest_for_no_preference() -> None:
    flat = uniform_loss(torch.zeros((4, 10)))
    sure = uniform_loss(torch.tensor([[9.0] + [0.0] * 9] * 4))
    assert flat.item() == pytest.approx(torch.log(torch.tensor(10.0)).item())
    assert sure > flat


def test_training_with_photo_augmentation_and_outliers_learns(fmnist_dir) -> None:
    pool = load_fashion_mnist("train", fmnist_dir, verify=False)
    tr, va = stratified_split(pool.labels, 0.2, seed=0)
    cfg = dataclasses.replace(
        PRESETS["fast"],
        epochs=6,
        batch_size=32,
        lr=0.05,
        threads=1,
        photo_augment=PhotoAugmentConfig(probability=0.5),
        outlier_share=0.25,
        metric_loss="none",  # the cross-entropy with outliers is what is tested here
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    result = train_model(cfg, pool.subset(tr), pool.subset(va), PreprocessConfig(), progress=False)
    assert result.history[-1]["val_acc"] > 0.4  # chance is 0.1
