"""The training pipeline end to end on tiny Fashion-MNIST-format files: what it fits after the model."""

from __future__ import annotations

import pytest

from shoplens.data.source import DataSource
from shoplens.training.ood_fit import MIN_PHOTOS
from shoplens.training.pipeline import run_training
from shoplens.training.presets import preset_config


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_the_detector_is_fitted_when_validation_can_hold_it_and_its_absence_is_warned(
    fmnist_dir, tmp_path, val_fraction
) -> None:
    cfg = preset_config("fast", epochs=1, batch_size=32, threads=1, val_fraction=val_fraction)
    source = DataSource("fashion-mnist", str(fmnist_dir), verify=False)
    out = tmp_path / "fmnist" / "v1"
    bundle, metrics = run_training(cfg, source, out, progress=False, keep=("epochs", "batch_size"))
    warned = [w for w in metrics["extra"]["warnings"] if "no not-a-product detector" in w]
    if val_fraction == 0.0:
        assert not (bundle / "ood.json").exists() and "ood_held_out" not in metrics["extra"]
        assert warned == [
            f"no not-a-product detector: the validation split holds 0 images, fewer than {MIN_PHOTOS}"
        ]
    else:
        assert (bundle / "ood.json").is_file() and set(metrics["extra"]["ood_held_out"]) >= {"ood_auroc"}
        assert warned == []
