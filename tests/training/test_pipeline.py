"""The training pipeline end to end on tiny Fashion-MNIST-format files: what it fits after the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.data.source import DataSource
from shoplens.errors import BundleError
from shoplens.inference.projection import MIN_PAIRS, load_projection
from shoplens.inference.store import ModelStore
from shoplens.models.bundle import UNFINISHED, read_bundle_spec
from shoplens.training.card import PHOTO_BENCHMARK
from shoplens.training.ood_fit import MIN_PHOTOS
from shoplens.training.pipeline import CHECKPOINTS, kept_epoch, refit_bundle_search, run_training
from shoplens.training.presets import preset_config
from tests.support.bundles import bundle_of_garment_folder


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_the_detector_is_fitted_when_validation_can_hold_it_and_its_absence_is_warned(
    fmnist_dir, tmp_path, val_fraction
) -> None:
    cfg = preset_config("fast", epochs=1, batch_size=32, threads=1, val_fraction=val_fraction)
    source = DataSource("fashion-mnist", str(fmnist_dir), verify=False)
    out = tmp_path / "fmnist" / "v1"
    bundle, metrics = run_training(cfg, source, out, progress=False, keep=("epochs", "batch_size"))
    warned = [w for w in metrics["extra"]["warnings"] if "no not-a-product detector" in w]
    assert not (bundle / UNFINISHED).exists() and ModelStore(tmp_path, "fmnist").version_names() == ["v1"]
    if val_fraction == 0.0:
        assert not (bundle / "ood.json").exists() and "ood_held_out" not in metrics["extra"]
        assert warned == [
            f"no not-a-product detector: the validation split holds 0 images, fewer than {MIN_PHOTOS}"
        ]
    else:
        assert (bundle / "ood.json").is_file() and set(metrics["extra"]["ood_held_out"]) >= {"ood_auroc"}
        assert warned == []


def test_a_run_stopped_before_its_evaluation_leaves_no_version(fmnist_dir, tmp_path, monkeypatch) -> None:
    """Killed after its weights were saved (here: its evaluation fails), the folder is no version to activate."""
    import shoplens.training.pipeline as pipeline

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "evaluate_bundle", stopped)
    cfg = preset_config("fast", epochs=1, batch_size=32, threads=1, val_fraction=0.0)
    source = DataSource("fashion-mnist", str(fmnist_dir), verify=False)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, source, tmp_path / "fmnist" / "v1", progress=False, keep=("epochs", "batch_size"))
    assert (tmp_path / "fmnist" / "v1" / "config.json").is_file()  # the weights were written
    assert ModelStore(tmp_path, "fmnist").version_names() == []


def with_evaluation(path: Path) -> Path:
    """The bundle at path with a metrics.json, a training checkpoint and a photo benchmark record."""
    (path / "metrics.json").write_text(
        json.dumps({"accuracy": 0.5, "extra": {"epochs": 3, "search_width": None}})
    )
    (path / CHECKPOINTS).mkdir()
    (path / CHECKPOINTS / "last.pt").write_bytes(b"weights")
    (path / PHOTO_BENCHMARK).write_text("{}")
    return path


@pytest.mark.slow
def test_refit_search_writes_a_new_version_and_leaves_the_old_one_as_it_was(tmp_path) -> None:
    old = with_evaluation(bundle_of_garment_folder(tmp_path, per_class=130))  # 520 validation garments
    before = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()}
    new = old.parent / "v1-search"
    width = refit_bundle_search(old, new, n=MIN_PAIRS + 12)
    assert width is not None and width == load_projection(new).width
    assert {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()} == before  # its vectors stay valid
    spec = read_bundle_spec(new)
    assert spec.version == "v1-search" and spec.config["created"] > read_bundle_spec(old).config["created"]
    assert spec.metrics["extra"] == {"epochs": 3, "search_width": width, "search_refitted_from": "v1"}
    assert not (new / CHECKPOINTS).exists() and not (new / PHOTO_BENCHMARK).exists()
    assert sorted(p.name for p in old.parent.iterdir()) == ["v1", "v1-search"]  # nothing left half-built
    with pytest.raises(BundleError, match="already exists"):
        refit_bundle_search(old, new)
    with pytest.raises(BundleError, match="not a version name"):
        refit_bundle_search(old, old.parent / ".hidden")


@pytest.mark.slow
def test_refit_search_from_the_command_line(tmp_path) -> None:
    old = bundle_of_garment_folder(tmp_path, per_class=130)
    runner = CliRunner()
    models = ["--models-dir", str(tmp_path / "models")]
    done = runner.invoke(app, ["models", "refit-search", "v1", "--as", "v2", *models])
    assert done.exit_code == 0, done.output
    assert "v2: a copy of v1" in done.output and "reindex --version v2" in " ".join(done.output.split())
    assert (old.parent / "v2" / "search.json").is_file()
    missing = runner.invoke(app, ["models", "refit-search", "v9", *models])
    assert missing.exit_code != 0 and "no version 'v9'" in missing.output
    for name in ("../escape", "a/b"):
        refused = runner.invoke(app, ["models", "refit-search", "v1", "--as", name, *models])
        assert refused.exit_code == 2 and "is no version name" in " ".join(refused.output.split()), (
            refused.output
        )
    assert not (tmp_path / "models" / "escape").exists() and not (old.parent / "a").exists()


def test_the_epoch_a_bundle_holds_is_the_last_unless_early_stopping_kept_the_best() -> None:
    history = [{"epoch": 1, "val_acc": 0.6}, {"epoch": 2, "val_acc": 0.82}, {"epoch": 3, "val_acc": 0.65}]
    assert kept_epoch(history, early_stopping=False) == 3  # the report marked epoch 2 as if it were the model
    assert kept_epoch(history, early_stopping=True) == 2
    assert kept_epoch([], early_stopping=True) is None
