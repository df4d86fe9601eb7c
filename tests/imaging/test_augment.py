"""Batched augmentation: determinism, translation bounds, flips, random erasing, config, speed."""

from __future__ import annotations

import json
import time

import pytest
import torch

from shoplens.imaging.augment import AugmentConfig, augment_batch

ALL_ON = AugmentConfig(crop_padding=2, hflip=True, erasing=0.5)


def seeded(seed: int = 0) -> torch.Generator:
    """A CPU generator with a fixed seed."""
    return torch.Generator().manual_seed(seed)


def dots(n: int, row: int, col: int, size: int = 28) -> torch.Tensor:
    """A batch of black images, each with one bright pixel at (row, col)."""
    x = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    x[:, 0, row, col] = 200
    return x


def dot_positions(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of the brightest pixel of each image."""
    flat = x[:, 0].flatten(1).argmax(dim=1)
    return flat // x.shape[-1], flat % x.shape[-1]


def random_batch(n: int, c: int = 1, h: int = 28, w: int = 28, seed: int = 1) -> torch.Tensor:
    """Uniform random uint8 images."""
    return torch.randint(0, 256, (n, c, h, w), generator=seeded(seed), dtype=torch.uint8)


def test_everything_off_returns_an_equal_copy() -> None:
    x = random_batch(8)
    out = augment_batch(x, AugmentConfig(), seeded())
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()
    assert not AugmentConfig().enabled and ALL_ON.enabled


def test_shape_dtype_kept_and_input_untouched() -> None:
    x = random_batch(16, c=3, h=20, w=24)
    before = x.clone()
    out = augment_batch(x, ALL_ON, seeded())
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(x, before)
    assert not torch.equal(out, x)


def test_same_seed_same_output_and_different_seeds_differ() -> None:
    x = random_batch(64)
    first = augment_batch(x, ALL_ON, seeded(7))
    again = augment_batch(x, ALL_ON, seeded(7))
    other = augment_batch(x, ALL_ON, seeded(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_translation_moves_content_by_at_most_the_padding() -> None:
    p = 2
    x = dots(2_000, 14, 14)
    out = augment_batch(x, AugmentConfig(crop_padding=p), seeded())
    assert bool(((out > 0).flatten(1).sum(dim=1) == 1).all())  # moved, not lost
    rows, cols = dot_positions(out)
    dy, dx = rows - 14, cols - 14
    assert dy.abs().max() <= p and dx.abs().max() <= p
    shifts = torch.stack([dy, dx], dim=1).unique(dim=0, return_counts=True)
    assert len(shifts[0]) == (2 * p + 1) ** 2  # every shift in [-p, p]^2 happens ...
    assert shifts[1].min() > 2_000 / 25 / 2  # ... about equally often


def test_translation_fills_uncovered_pixels_with_fill() -> None:
    p = 3
    x = torch.full((500, 1, 28, 28), 100, dtype=torch.uint8)
    out = augment_batch(x, AugmentConfig(crop_padding=p, fill=7), seeded())
    assert set(out.unique().tolist()) == {7, 100}
    filled = out[:, 0] == 7
    inner = filled[:, p:-p, p:-p]
    assert not inner.any()  # fill only appears in the border strips a shift can uncover
    rows_filled = filled.all(dim=2).sum(dim=1)  # whole filled rows per image = |vertical shift|
    assert rows_filled.max() == p


def test_flip_mirrors_about_half_of_the_images() -> None:
    x = random_batch(1_000)
    out = augment_batch(x, AugmentConfig(hflip=True), seeded())
    same = (out == x).flatten(1).all(dim=1)
    mirrored = (out == x.flip(-1)).flatten(1).all(dim=1)
    assert bool((same ^ mirrored).all())  # each image is either untouched or exactly mirrored
    assert 0.42 < mirrored.float().mean().item() < 0.58


def test_flip_and_translation_compose() -> None:
    p = 1
    out = augment_batch(dots(400, 5, 6), AugmentConfig(crop_padding=p, hflip=True), seeded())
    rows, cols = dot_positions(out)
    near_original = (cols - 6).abs() <= p
    near_mirror = (cols - 21).abs() <= p  # column 6 mirrored in a 28-wide image
    assert bool((near_original | near_mirror).all()) and near_original.any() and near_mirror.any()
    assert (rows - 5).abs().max() <= p


def test_erasing_changes_the_requested_share_of_images_with_one_noisy_rectangle() -> None:
    n, probability = 4_000, 0.3
    x = torch.full((n, 1, 28, 28), 128, dtype=torch.uint8)
    out = augment_batch(x, AugmentConfig(erasing=probability), seeded())
    changed = out[:, 0] != 128
    erased = changed.flatten(1).any(dim=1)
    assert abs(erased.float().mean().item() - probability) < 0.03
    area = changed[erased].flatten(1).float().mean(dim=1)
    assert area.min() > 0.015 and area.max() < 0.3  # rectangles of 2-25 % of the image (rounded)
    assert 0.10 < area.mean().item() < 0.17  # uniform area share averages 13.5 %
    one = changed[erased][0]
    rows, cols = one.any(dim=1).nonzero(), one.any(dim=0).nonzero()
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert one.sum() >= 0.95 * box  # a filled rectangle (noise may repeat the old value now and then)
    assert out[:, 0][changed].unique().numel() > 200  # the fill is noise, not a constant


def test_erasing_probability_one_erases_every_image() -> None:
    x = torch.full((300, 3, 16, 20), 128, dtype=torch.uint8)
    out = augment_batch(x, AugmentConfig(erasing=1.0), seeded())
    assert bool((out != 128).flatten(1).any(dim=1).all())


def test_rejects_other_dtypes_and_shapes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(torch.zeros((2, 1, 8, 8)), ALL_ON, seeded())
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(torch.zeros((1, 8, 8), dtype=torch.uint8), ALL_ON, seeded())


@pytest.mark.slow
def test_speed_of_a_fashion_mnist_batch() -> None:
    x = random_batch(256)
    generator = seeded()
    for _ in range(5):
        augment_batch(x, ALL_ON, generator)
    timings = []
    for _ in range(21):
        start = time.perf_counter()
        out = augment_batch(x, ALL_ON, generator)
        timings.append(time.perf_counter() - start)
    timings.sort()
    threads = torch.get_num_threads()
    print(f"augment_batch 256x1x28x28, all on, {threads} threads:", end=" ")
    print(f"median {timings[10] * 1000:.2f} ms, best {timings[0] * 1000:.2f} ms")
    assert out.shape == x.shape


def test_config_round_trips_and_validates() -> None:
    cfg = AugmentConfig(crop_padding=4, hflip=True, erasing=0.25, fill=3)
    assert AugmentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert AugmentConfig.from_dict({}) == AugmentConfig()
    assert AugmentConfig.from_dict({"erasing": 1}).erasing == 1.0
    bad = [{"crop": 2}, {"crop_padding": -1}, {"crop_padding": 1.5}, {"hflip": 1}, {"erasing": 1.5}]
    for data in [*bad, {"fill": 256}]:
        with pytest.raises(ValueError):
            AugmentConfig.from_dict(data)


def test_runs_on_the_device_the_batch_is_on() -> None:
    x = torch.zeros((8, 1, 28, 28), dtype=torch.uint8).to("meta")  # torch refuses to mix devices
    cfg = AugmentConfig(crop_padding=2, hflip=True, erasing=1.0)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(0))
    assert out.device.type == "meta" and out.shape == x.shape
