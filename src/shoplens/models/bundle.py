"""Model bundles: a folder holding weights and everything needed to use them (config, labels, preprocessing).

Two ways in: `read_bundle_spec` reads what serving needs (labels, preprocessing, calibration, embedding width)
without torch; `load_bundle` also builds the torch network (training, export, the torch runtime).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoplens.errors import BundleError
from shoplens.files import sha256_file, write_atomic
from shoplens.imaging import PreprocessConfig

if TYPE_CHECKING:
    from torch import nn

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
METRICS = "metrics.json"
UNFINISHED = (
    "UNFINISHED"  # present while a bundle is being trained (and after a run that stopped): no version yet
)
CARD = "README.md"
FORMAT_VERSION = 1


@dataclass
class BundleSpec:
    """What a bundle says about its model: labels, preprocessing, calibration, embedding width (no weights)."""

    path: Path
    config: dict[str, Any]
    preprocess: PreprocessConfig
    labels: list[str]
    temperature: float = 1.0
    review_threshold: float = 0.0
    review_thresholds: dict[str, float] = field(
        default_factory=dict
    )  # per predicted label; others: the above
    tta_flip: bool = False
    embedding_dim: int | None = None  # width of the penultimate features; None in bundles that predate it
    metrics: dict[str, Any] = field(default_factory=dict)

    def threshold_for(self, label: str) -> float:
        """The confidence under which a prediction of this label goes to review."""
        return self.review_thresholds.get(label, self.review_threshold)

    @property
    def name(self) -> str:
        """The bundle's model name (e.g. fashion-mnist)."""
        return self.config.get("name", self.path.parent.name)

    @property
    def version(self) -> str:
        """The bundle's version (its folder name unless the config says otherwise)."""
        return self.config.get("version", self.path.name)


@dataclass
class Bundle(BundleSpec):
    """A bundle with its torch network loaded (eval mode)."""

    model: nn.Module = field(kw_only=True)


def save_bundle(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    architecture: str,
    model_kwargs: dict[str, Any],
    labels: list[str],
    preprocess: PreprocessConfig,
    train_config: dict[str, Any],
    data: dict[str, Any],
    temperature: float = 1.0,
    review_threshold: float = 0.0,
    review_thresholds: dict[str, float] | None = None,
    review_rule: str | None = None,
    tta_flip: bool = False,
    name: str | None = None,
    version: str | None = None,
) -> Path:
    """Write config.json and model.safetensors into `path` (created); metrics and card are added by evaluation."""
    import torch
    from safetensors.torch import save

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "name": name or path.parent.name,
        "version": version or path.name,
        "architecture": architecture,
        "model_kwargs": model_kwargs,
        "num_classes": len(labels),
        "labels": labels,
        "input": {
            "channels": preprocess.in_chans,
            "height": preprocess.size[0],
            "width": preprocess.size[1],
            "dtype": "uint8",
        },
        "preprocess": preprocess.to_dict(),
        "temperature": float(temperature),
        "review_threshold": float(review_threshold),
        "review_thresholds": {str(k): float(v) for k, v in (review_thresholds or {}).items()},
        "review_rule": review_rule,
        "tta_flip": bool(tta_flip),
        "embedding_dim": int(model.num_features),
        "train_config": train_config,
        "data": data,
        "torch_version": torch.__version__,
        "created": datetime.now(UTC).isoformat(),  # model versions are ordered by it
    }
    weights = save({k: v.contiguous() for k, v in model.state_dict().items()})
    config["weights_sha256"] = hashlib.sha256(weights).hexdigest()  # checked whenever the weights are read
    write_atomic(path / WEIGHTS, weights)
    write_json(path / CONFIG, config)
    return path


def write_json(path: Path, obj: Any) -> None:
    """Pretty JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """A bundle's config.json, with a clear error when it is missing or broken."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise BundleError(f"{path} is not a model bundle (no {CONFIG})")
    try:
        return json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BundleError(f"{path / CONFIG}: unreadable ({e})") from e


def read_bundle_spec(path: str | os.PathLike) -> BundleSpec:
    """A bundle's description from config.json (and metrics.json): everything but the weights."""
    path = Path(path)
    config = read_config(path)
    if isinstance(kind := config.get("kind"), str):  # zero-shot and few-shot versions name their kind
        raise BundleError(
            f"{path} is a {kind} version, not a trained bundle: serve it (shoplens models activate) and ask it "
            "through /v1/classify or `shoplens predict`; evaluating, exporting and batch jobs take trained bundles"
        )
    try:
        preprocess = PreprocessConfig.from_dict(config["preprocess"])
        labels = [str(label) for label in config["labels"]]
        temperature = float(config.get("temperature", 1.0))
        review_threshold = float(config.get("review_threshold", 0.0))
        per_label = {str(k): float(v) for k, v in (config.get("review_thresholds") or {}).items()}
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise BundleError(f"{path}: cannot load the bundle ({type(e).__name__}: {e})") from e
    if twice := sorted({label for label in labels if labels.count(label) > 1}):
        raise BundleError(f"{path}: {CONFIG} names the label {twice[0]!r} twice: edited or damaged")
    if wrong := sorted({n for n in _logit_widths(config) if n != len(labels)}):
        raise BundleError(
            f"{path}: {CONFIG} names {len(labels)} labels for a network of {wrong[0]} outputs: edited or damaged"
        )
    metrics = json.loads((path / METRICS).read_text()) if (path / METRICS).is_file() else {}
    return BundleSpec(
        path=path,
        config=config,
        preprocess=preprocess,
        labels=labels,
        temperature=temperature,
        review_threshold=review_threshold,
        review_thresholds=per_label,
        tta_flip=bool(config.get("tta_flip", False)),
        embedding_dim=_embedding_dim(config),
        metrics=metrics,
    )


def _logit_widths(config: dict[str, Any]) -> list[int]:
    """The output widths config.json records for the network: num_classes and the exported graph's logits."""
    widths = [config["num_classes"]] if isinstance(config.get("num_classes"), int) else []
    outputs = (config.get("onnx") or {}).get("outputs", [])
    shape = next((o.get("shape") for o in outputs if isinstance(o, dict) and o.get("name") == "logits"), None)
    if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int):
        widths.append(shape[1])
    return widths


def recorded_sha256(config: dict[str, Any], name: str) -> str | None:
    """The digest config.json records for one of the bundle's weight files (None for bundles that predate it)."""
    onnx = config.get("onnx") or {}
    recorded = {
        WEIGHTS: config.get("weights_sha256") or onnx.get("weights_sha256"),
        ONNX_NAME: onnx.get("sha256"),
        INT8_NAME: (config.get("onnx_int8") or {}).get("sha256"),
    }.get(name)
    return recorded if isinstance(recorded, str) else None


def checked_file(spec: BundleSpec, name: str) -> Path:
    """One of the bundle's weight files, refused when its bytes are not those its config.json recorded."""
    path = spec.path / name
    recorded = recorded_sha256(spec.config, name)
    if recorded is not None and path.is_file() and sha256_file(path) != recorded:
        raise BundleError(
            f"{path}: its bytes are not those the bundle recorded (sha256 differs from config.json's): damaged or "
            "replaced; export or train it again"
        )
    return path


def _embedding_dim(config: dict[str, Any]) -> int | None:
    """The recorded feature width: config.json's own, else the exported graph's `embedding` output."""
    if isinstance(config.get("embedding_dim"), int):
        return config["embedding_dim"]
    outputs = config.get("onnx", {}).get("outputs", [])
    shape = next((o.get("shape") for o in outputs if o.get("name") == "embedding"), None)
    return shape[1] if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int) else None


def load_network(spec: BundleSpec) -> nn.Module:
    """The bundle's torch network with its weights, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from shoplens.models.registry import create_model

    config = spec.config
    try:
        model = create_model(
            config["architecture"],
            num_classes=config["num_classes"],
            in_chans=spec.preprocess.in_chans,
            img_size=spec.preprocess.size,
            **config.get("model_kwargs", {}),
        )
        model.load_state_dict(load_file(str(checked_file(spec, WEIGHTS))))
    except (KeyError, ValueError, TypeError, RuntimeError, OSError, SafetensorError) as e:
        raise BundleError(f"{spec.path}: cannot load the bundle ({type(e).__name__}: {e})") from e
    return model.eval()


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle folder into a ready model (eval mode) with its preprocessing and labels."""
    spec = read_bundle_spec(path)
    model = load_network(spec)
    return Bundle(**{f.name: getattr(spec, f.name) for f in fields(spec)}, model=model)
