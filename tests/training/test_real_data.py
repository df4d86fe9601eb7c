"""Real Fashion-MNIST, briefly (slow tier; CI installs the Debian package)."""

import os

import pytest

from shoplens.data import fashion_mnist as fm
from shoplens.training.pipeline import DataSource, run_training
from shoplens.training.presets import preset_config


@pytest.mark.slow
@pytest.mark.longest
def test_fast_preset_briefly_on_real_data(tmp_path):
    try:
        fm.find_fashion_mnist()
    except fm.DataNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
    cfg = preset_config("fast", epochs=2)  # a fixed amount of work, so a busy machine is slower, not worse
    bundle, metrics = run_training(cfg, DataSource(), tmp_path / "fmnist" / "v1", progress=False)
    assert metrics["accuracy"] > 0.85
    assert metrics["num_samples"] == 10_000
    assert (bundle / "report" / "misclassified.png").is_file()
    assert (bundle / "ood.json").is_file() and metrics["extra"]["ood_held_out"]["ood_auroc"] > 0.5
    assert (bundle / "search.json").is_file() and metrics["extra"]["search_width"] == 128  # 192 features
    card = (bundle / "README.md").read_text()  # the card quotes the detector's held-out numbers
    assert f"AUROC {metrics['extra']['ood_held_out']['ood_auroc']:.3f}" in card
