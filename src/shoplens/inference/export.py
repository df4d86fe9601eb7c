"""Export a bundle's network to ONNX (BatchNorm folded, dynamic batch), checked against torch, optionally int8 too."""

from __future__ import annotations

import copy
import dataclasses
import io
import itertools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from shoplens.data import ImageDataset
from shoplens.data.source import DataSource, load_data
from shoplens.errors import BundleError, ShopLensError
from shoplens.files import sha256_file, write_atomic
from shoplens.imaging import normalize
from shoplens.inference.onnx_session import INPUT, OUTPUTS, OrtSession
from shoplens.inference.quantize import int8_trial
from shoplens.inference.session import INT8_NAME, ONNX_NAME
from shoplens.models.bundle import CONFIG, WEIGHTS, Bundle, BundleSpec, load_bundle, read_config, write_json

DEFAULT_OPSET = 17
CHECK_RTOL, CHECK_ATOL = 1e-3, 1e-4  # an export further than this from torch is refused
CHECK_IMAGES = 16


class _LogitsAndEmbedding(nn.Module):
    """Wraps a model so one forward pass returns (logits, embedding), the graph's two outputs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(x)
        return self.model.head(feats), feats


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """An eval-mode deep copy with each Conv2d → BatchNorm2d pair in an nn.Sequential fused; (copy, pairs fused)."""
    model = copy.deepcopy(model).eval()
    fused = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in itertools.pairwise(names):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq._modules[a], seq._modules[b] = fuse_conv_bn_eval(conv, bn), nn.Identity()
                fused += 1
    return model, fused


def graph_ops(model: str | os.PathLike | onnx.ModelProto) -> set[str]:
    """The operator types used in an ONNX model's main graph (a file or a loaded model)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    return {node.op_type for node in model.graph.node}


def export_model_onnx(
    model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, int, int], opset: int = DEFAULT_OPSET
) -> Path:
    """Write `model` (BatchNorm folded) as ONNX: `input` (N, C, H, W) → `logits` (N, K), `embedding` (N, D)."""
    path = Path(path)
    folded, _ = fold_batchnorm(model)
    dummy = torch.zeros(2, *input_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its successor
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _LogitsAndEmbedding(folded),
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            do_constant_folding=True,
            dynamic_axes={name: {0: "batch"} for name in (INPUT, *OUTPUTS)},
        )
    graph = onnx.load_model_from_string(buffer.getvalue())
    onnx.checker.check_model(graph)
    if "BatchNormalization" in graph_ops(graph):
        name = type(model).__name__
        raise BundleError(f"{name}: a BatchNorm does not follow a Conv2d in an nn.Sequential, cannot fold it")
    write_atomic(path, buffer.getvalue())
    return path


@torch.no_grad()
def compare_with_torch(
    bundle: Bundle, session: OrtSession, n: int = CHECK_IMAGES, seed: int = 0
) -> dict[str, float]:
    """Largest absolute difference per output between ONNX Runtime and torch (unfolded model) on random images."""
    shape = (n, bundle.preprocess.in_chans, *bundle.preprocess.size)
    x = normalize(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), bundle.preprocess)
    feats = bundle.model.eval().forward_features(torch.from_numpy(x))
    expected = (bundle.model.head(feats).numpy(), feats.numpy())
    got = session.run(x)
    for name, want, have in zip(OUTPUTS, expected, got):
        if want.shape != have.shape or not np.allclose(have, want, rtol=CHECK_RTOL, atol=CHECK_ATOL):
            worst = np.abs(have - want).max() if want.shape == have.shape else "shape mismatch"
            raise BundleError(
                f"{bundle.path}: the exported {name} differ from torch's (max abs diff {worst})"
            )
    return {name: float(np.abs(have - want).max()) for name, want, have in zip(OUTPUTS, expected, got)}


def onnx_entry(bundle: Bundle, path: Path, opset: int, fused: int, diff: dict[str, float]) -> dict[str, Any]:
    """The `onnx` record for config.json: file, opset, signature, checksum and agreement with torch."""
    pre = bundle.preprocess
    return {
        "file": path.name,
        "opset": opset,
        "exporter": f"torch.onnx TorchScript exporter (dynamo=False), torch {torch.__version__}",
        "onnxruntime_version": onnxruntime.__version__,
        "batchnorm_folded": fused,
        "inputs": [
            {
                "name": INPUT,
                "dtype": "float32",
                "shape": ["batch", pre.in_chans, *pre.size],
                "normalised": "(x / 255 - preprocess.mean) / preprocess.std, done by the Predictor",
            }
        ],
        "outputs": [
            {"name": "logits", "dtype": "float32", "shape": ["batch", len(bundle.labels)]},
            {"name": "embedding", "dtype": "float32", "shape": ["batch", int(bundle.model.num_features)]},
        ],
        "sha256": sha256_file(path),
        "weights_sha256": sha256_file(bundle.path / WEIGHTS),
        "max_abs_diff_vs_torch": diff,
        "checked_on": f"{CHECK_IMAGES} random uint8 images through the bundle's normalisation",
    }


def calibration_data(
    bundle: BundleSpec, data_dir: str | os.PathLike | None, verify: bool
) -> tuple[ImageDataset, ImageDataset]:
    """(training pool, test set) of the data the bundle was trained on, as its config.json's `data` describes it.

    `data_dir` says where that data is now (a Fashion-MNIST folder, the photo folder, the manifest), when it moved.
    """
    try:
        source = DataSource.from_record(bundle.config.get("data") or {})
    except ShopLensError as e:
        raise BundleError(f"{bundle.path}: this needs the data the bundle was trained on ({e})") from e
    if data_dir is not None:
        source = dataclasses.replace(source, path=str(data_dir))
    source = dataclasses.replace(source, verify=verify)
    seed = int(bundle.config.get("train_config", {}).get("seed", 0))
    return load_data(source, bundle.preprocess, seed)


def export_onnx(
    bundle_path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    int8: bool = False,
    data: tuple[ImageDataset, ImageDataset] | None = None,
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
    calibration_size: int = 512,
    max_accuracy_drop: float = 0.3,
) -> Path:
    """Write BUNDLE/model.onnx, checked against torch; with int8, also try model.int8.onnx. Returns model.onnx's path.

    The int8 model is kept only if its test accuracy is at most `max_accuracy_drop` points below fp32's; both outcomes
    are recorded in config.json (`onnx_int8`). `data` is (calibration pool, test set), by default the bundle's own
    training data (`calibration_data`). Any export removes an older int8 model, which would no longer match model.onnx.
    """
    bundle = load_bundle(bundle_path)
    if int8 and data is None:
        data = calibration_data(bundle, data_dir, verify)  # before writing anything: missing data fails fast
    path = bundle.path / ONNX_NAME
    input_shape = (bundle.preprocess.in_chans, *bundle.preprocess.size)
    try:
        export_model_onnx(bundle.model, path, input_shape, opset)
    except (RuntimeError, ValueError, TypeError, onnx.checker.ValidationError) as e:
        raise BundleError(f"{bundle.path}: ONNX export failed ({type(e).__name__}: {e})") from e
    try:
        diff = compare_with_torch(bundle, OrtSession(path))
    except BundleError:
        path.unlink(missing_ok=True)
        raise
    fused = sum(
        isinstance(m, nn.BatchNorm2d) for m in bundle.model.modules()
    )  # export refuses any left unfolded
    (bundle.path / INT8_NAME).unlink(missing_ok=True)
    config = read_config(bundle.path)
    config["onnx"] = onnx_entry(bundle, path, opset, fused, diff)
    config.pop("onnx_int8", None)
    write_json(bundle.path / CONFIG, config)
    if int8 and data is not None:
        trial = int8_trial(bundle, path, bundle.path / INT8_NAME, *data, calibration_size, max_accuracy_drop)
        trial["sha256"] = sha256_file(bundle.path / INT8_NAME) if trial["kept"] else None
        write_json(bundle.path / CONFIG, {**config, "onnx_int8": trial})
    return path
