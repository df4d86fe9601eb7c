"""ONNX export: every registered model matches torch through ONNX Runtime, BatchNorm folded, int8 decided, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.data.source import DataSource
from shoplens.errors import BundleError
from shoplens.files import sha256_file
from shoplens.imaging import PreprocessConfig, normalize
from shoplens.inference import Predictor, load_predictor
from shoplens.inference.export import export_model_onnx, export_onnx, fold_batchnorm, graph_ops
from shoplens.inference.onnx_session import OrtSession
from shoplens.inference.session import InferenceSession
from shoplens.inference.torch_session import TorchSession
from shoplens.models import create_model, list_models, load_bundle
from shoplens.models.bundle import read_config
from tests.support.bundles import bundle_at
from tests.support.protocols import mismatches

pytestmark = pytest.mark.slow

LABELS = ["a", "b", "c", "d", "e"]
PREPROCESS = PreprocessConfig(mean=(0.3,), std=(0.4,))


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters far from their defaults, so folding them really matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=gen))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.copy_(0.6 * torch.rand(m.num_features, generator=gen) - 0.3)
    return model


def tiny_bundle(root: Path, name: str) -> Path:
    """A randomly initialised `name` with non-trivial BatchNorm statistics, saved as a bundle."""
    torch.manual_seed(0)
    model = randomize_batchnorm(create_model(name, num_classes=len(LABELS)))
    return bundle_at(
        root / name / "v1", model=model, architecture=name, labels=LABELS, preprocess=PREPROCESS, data={}
    )


def images(n: int, seed: int = 0) -> np.ndarray:
    """Random uint8 model inputs (N, 1, 28, 28)."""
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_and_matches_torch_at_any_batch(tmp_path, name):
    path = export_onnx(tiny_bundle(tmp_path, name))
    bundle = load_bundle(path.parent)
    bns = [m for m in bundle.model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not torch.allclose(m.running_var, torch.ones_like(m.running_var)) for m in bns)
    assert "BatchNormalization" not in graph_ops(path) and "Conv" in graph_ops(path)
    session = OrtSession(path)
    assert mismatches(OrtSession, InferenceSession) == [] and session.runtime == "onnxruntime"
    for n in (1, 7):
        x = normalize(images(n, seed=n), PREPROCESS)
        with torch.no_grad():
            feats = bundle.model.forward_features(torch.from_numpy(x))
            want = (bundle.model.head(feats).numpy(), feats.numpy())
        got = session.run(x)
        assert got[0].shape == (n, len(LABELS)) and got[1].shape == (n, bundle.model.num_features)
        for have, expected in zip(got, want):
            assert np.allclose(have, expected, rtol=1e-4, atol=1e-5), np.abs(have - expected).max()
    entry = read_config(path.parent)["onnx"]
    assert (
        entry["file"] == "model.onnx"
        and entry["sha256"] == sha256_file(path)
        and entry["batchnorm_folded"] == len(bns)
    )
    assert [o["name"] for o in entry["outputs"]] == ["logits", "embedding"]
    assert entry["outputs"][1]["shape"] == ["batch", bundle.model.num_features]
    assert max(entry["max_abs_diff_vs_torch"].values()) < 1e-4


def test_fold_batchnorm_removes_every_batchnorm_and_keeps_outputs():
    model = randomize_batchnorm(create_model("shopnet_wide", num_classes=3)).eval()
    folded, fused = fold_batchnorm(model)
    assert fused == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.from_numpy(normalize(images(4), PREPROCESS))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


class _LoneBatchNorm(nn.Module):
    """A BatchNorm that follows a ReLU, not a convolution: nothing to fold it into."""

    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(4, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_unfoldable_batchnorm_is_refused(tmp_path):
    with pytest.raises(BundleError, match="cannot fold"):
        export_model_onnx(randomize_batchnorm(_LoneBatchNorm()), tmp_path / "m.onnx", (1, 28, 28))
    assert not list(tmp_path.iterdir())  # no half-written or unchecked file left behind


def test_load_predictor_picks_onnxruntime_and_predicts_like_torch(tmp_path):
    path = tiny_bundle(tmp_path, "shopnet")
    assert load_predictor(path).session.runtime == "torch"  # nothing exported yet
    with pytest.raises(BundleError, match="shoplens export"):
        load_predictor(path, runtime="onnxruntime")
    export_onnx(path)
    assert load_predictor(path).session.calibration["runtime"]  # auto now calibrates among ONNX runtimes
    ort_predictor = load_predictor(path, runtime="onnxruntime")
    assert isinstance(ort_predictor.session, OrtSession)
    assert isinstance(load_predictor(path, runtime="torch").session, TorchSession)
    x = images(9, seed=3)
    ort_probs, ort_emb = ort_predictor.run(x)
    torch_probs, torch_emb = Predictor(load_bundle(path)).run(x)
    np.testing.assert_allclose(ort_probs, torch_probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ort_emb, torch_emb, rtol=1e-4, atol=1e-5)
    with pytest.raises(BundleError, match="--int8"):
        load_predictor(path, runtime="onnxruntime-int8")


def test_int8_is_kept_or_discarded_by_the_accuracy_rule(tmp_path, fmnist_dir):
    path = tiny_bundle(tmp_path, "seed_cnn")
    export_onnx(
        path, int8=True, data_dir=fmnist_dir, verify=False, calibration_size=64, max_accuracy_drop=100.0
    )
    trial = read_config(path)["onnx_int8"]
    assert (
        trial["kept"]
        and (path / "model.int8.onnx").is_file()
        and trial["sha256"] == sha256_file(path / "model.int8.onnx")
    )
    assert trial["calibration_images"] == 64 and trial["test_images"] == 60
    assert 0 <= trial["int8_accuracy"] <= 1 and trial["fp32_images_per_second"] > 0
    assert {"QuantizeLinear", "DequantizeLinear"} & graph_ops(path / "model.int8.onnx")
    int8 = load_predictor(path, runtime="onnxruntime-int8")
    assert int8.session.path.name == "model.int8.onnx"
    assert load_predictor(path, runtime="onnxruntime").session.path.name == "model.onnx"
    x = images(32, seed=5)
    fp32 = load_predictor(path, runtime="onnxruntime")
    assert np.abs(int8.probabilities(x) - fp32.probabilities(x)).max() < 0.05

    export_onnx(
        path, int8=True, data_dir=fmnist_dir, verify=False, calibration_size=64, max_accuracy_drop=-101.0
    )
    trial = read_config(path)["onnx_int8"]
    assert not trial["kept"] and trial["file"] is None and not (path / "model.int8.onnx").exists()
    assert (
        "fp32_accuracy" in trial and "int8_images_per_second" in trial
    )  # the trade-off is recorded either way

    export_onnx(path)  # a plain re-export drops the stale int8 record
    assert "onnx_int8" not in read_config(path) and "onnx" in read_config(path)


@pytest.mark.parametrize("agreement, kept", [(1.0, True), (59 / 60, False)])
def test_a_test_set_too_small_to_see_the_drop_keeps_int8_only_if_it_answers_as_fp32(
    tmp_path, fmnist_dir, monkeypatch, agreement, kept
):
    """60 test images cannot see a 0.3-point drop (one answer is 1.7 points): equal accuracy is no evidence there."""
    import shoplens.inference.quantize as quantize

    measured = [
        (0.9, 1000.0, 1.0),
        (0.9, 1100.0, agreement),
    ]  # same accuracy; int8 answers one image unlike fp32
    monkeypatch.setattr(quantize, "accuracy_and_speed", lambda *a, **k: measured)
    path = tiny_bundle(tmp_path, "seed_cnn")
    export_onnx(
        path, int8=True, data_dir=fmnist_dir, verify=False, calibration_size=64, max_accuracy_drop=0.3
    )
    trial = read_config(path)["onnx_int8"]
    assert trial["test_images"] == 60 and trial["accuracy_drop_points"] == 0
    assert trial["kept"] is kept and (path / "model.int8.onnx").is_file() is kept
    assert "under 334 test images" in trial["rule"] and trial["agreement_with_fp32"] == round(agreement, 5)


def test_cli_export_says_why_int8_was_discarded_on_a_small_test_set(tmp_path, fmnist_dir, monkeypatch):
    import shoplens.inference.quantize as quantize

    monkeypatch.setattr(
        quantize, "accuracy_and_speed", lambda *a, **k: [(0.9, 1000.0, 1.0), (0.9, 1100.0, 0.95)]
    )
    path = tiny_bundle(tmp_path, "seed_cnn")
    result = CliRunner().invoke(
        app, ["export", str(path), "--int8", "--data-dir", str(fmnist_dir), "--no-verify"]
    )
    assert result.exit_code == 0, result.output
    assert "60 test images are too few to see a 0.3-point drop" in " ".join(result.output.split()), (
        result.output
    )
    assert "5% of them unlike fp32" in result.output


def test_cli_export_prints_path_difference_and_int8_decision(tmp_path, fmnist_dir):
    runner = CliRunner()
    path = tiny_bundle(tmp_path, "seed_cnn")
    result = runner.invoke(app, ["export", str(path)])
    assert result.exit_code == 0, result.output
    assert "model.onnx" in result.output and "max abs difference vs torch" in result.output
    assert (path / "model.onnx").is_file()
    result = runner.invoke(app, ["export", str(path), "--int8", "--data-dir", str(fmnist_dir), "--no-verify"])
    assert result.exit_code == 0, result.output
    trial = json.loads((path / "config.json").read_text())["onnx_int8"]
    assert "int8: test accuracy" in result.output
    assert ("int8 model kept" in result.output) == trial["kept"] == (path / "model.int8.onnx").is_file()
    result = runner.invoke(app, ["export", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "not a model bundle" in result.output
    result = runner.invoke(app, ["export", str(path), "--int8", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "lacks" in result.output


def test_int8_calibrates_on_the_bundle_s_own_photo_folder_not_fashion_mnist(tmp_path):
    folder = tmp_path / "shop"
    for label, level in zip(LABELS, (20, 70, 120, 170, 220)):
        (folder / label).mkdir(parents=True)
        for i in range(8):
            img = np.full((28, 28), 255, np.uint8)
            img[4 + i : 20 + i, 6:22] = level
            Image.fromarray(img).save(folder / label / f"{i}.png")
    path = bundle_at(
        tmp_path / "shop-model" / "v1",
        architecture="seed_cnn",
        labels=LABELS,
        preprocess=PREPROCESS,
        data=DataSource("folder", str(folder)).record(),
    )
    export_onnx(path, int8=True, calibration_size=16, max_accuracy_drop=100.0)  # no data_dir: the record says
    trial = read_config(path)["onnx_int8"]
    assert trial["test_source"] == f"folder:{folder}" and trial["calibration_images"] == 16
    assert trial["test_images"] == 5  # what the training run held out: 15 % of each category (1 of 8)
