"""Photo-domain augmentation of training batches."""

from __future__ import annotations

import pytest
import torch

from shoplens.training.photo_augment import PhotoAugmentConfig, photo_augment


def batch(n: int = 64) -> torch.Tensor:
    """Light-on-black block garments with some texture."""
    x = torch.zeros((n, 1, 28, 28), dtype=torch.uint8)
    x[:, :, 3:25, 9:19] = 180
    x[:, :, 3:25:3, 9:19] = 240
    return x


def test_probability_zero_changes_nothing() -> None:
    x = batch()
    out = photo_augment(x, PhotoAugmentConfig(probability=0.0), torch.Generator().manual_seed(0))
    assert torch.equal(out, x) and out is not x


def test_changes_about_the_share_asked_for_and_keeps_shape() -> None:
    x = batch(400)
    out = photo_augment(x, PhotoAugmentConfig(probability=0.5), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert 0.4 < changed < 0.6


def test_background_far_from_the_garment_stays_black() -> None:
    x = batch(200)
    out = photo_augment(
        x,
        PhotoAugmentConfig(probability=1.0, shift=0.0, rotate=0.0, scale=(1.0, 1.0)),
        torch.Generator().manual_seed(1),
    )
    assert out[:, :, :, :4].float().mean() < 2.0 and out[:, :, :, -4:].float().mean() < 2.0
    assert out[:, :, 5:23, 10:18].float().mean() > 20  # the garment is still there


def test_is_reproducible_with_the_generator() -> None:
    cfg = PhotoAugmentConfig(probability=1.0)
    a = photo_augment(batch(), cfg, torch.Generator().manual_seed(7))
    b = photo_augment(batch(), cfg, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_config_round_trips_and_rejects_bad_values() -> None:
    cfg = PhotoAugmentConfig(probability=0.5, scale=(0.8, 1.0))
    assert PhotoAugmentConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ({"probability": 1.5}, {"scale": (1.2, 0.9)}, {"noise": -0.1}, {"unknown": 1}):
        with pytest.raises(ValueError):
            PhotoAugmentConfig.from_dict(bad)


def test_rejects_float_batches() -> None:
    with pytest.raises(ValueError):
        photo_augment(torch.zeros((2, 1, 28, 28)), PhotoAugmentConfig(probability=1.0), torch.Generator())


def test_runs_on_the_device_the_batch_is_on() -> None:
    # torch refuses to mix devices, so a batch on the "meta" device fails wherever a draw was left on the CPU;
    # this is what lets a GPU prepare its own training batches
    cfg = PhotoAugmentConfig(probability=1.0, noise=1.0, shadow=1.0, blur=1.0, lowres=1.0)
    out = photo_augment(batch().to("meta"), cfg, torch.Generator().manual_seed(0))
    assert out.device.type == "meta" and out.shape == (64, 1, 28, 28) and out.dtype == torch.uint8
