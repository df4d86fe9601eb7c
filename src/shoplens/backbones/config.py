"""What an image–text bundle's config.json says: preprocessing, tokenizer settings, scoring, encoder signatures."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoplens.errors import BundleError

KIND = "image-text"
FORMAT_VERSION = 1
FAMILIES = ("clip", "siglip")
CONFIG = "config.json"
IMAGE_ENCODER = "image_encoder.onnx"
TEXT_ENCODER = "text_encoder.onnx"
TOKENIZER = "tokenizer.json"
CARD = "README.md"
RESAMPLE = ("nearest", "bilinear", "bicubic", "lanczos")
RESIZE = ("shortest_edge", "exact")
PADDING = ("longest", "max_length")
TEXT_INPUTS = ("input_ids", "attention_mask")


@dataclass(frozen=True)
class ImageSpec:
    """How a decoded image becomes the image encoder's input (as the checkpoint's image processor does it)."""

    resize: str  # "shortest_edge": short side → shortest_edge, then centre crop; "exact": straight to `size`
    size: tuple[int, int]  # (height, width) fed to the encoder
    shortest_edge: int | None = None
    resample: str = "bicubic"
    rescale: float = 1 / 255
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        _check(self.resize in RESIZE, f"image.resize must be one of {RESIZE}, got {self.resize!r}")
        _check(self.resample in RESAMPLE, f"image.resample must be one of {RESAMPLE}, got {self.resample!r}")
        _check(len(self.size) == 2 and all(_pos_int(v) for v in self.size), "image.size must be [h, w] > 0")
        if self.resize == "shortest_edge":
            _check(_pos_int(self.shortest_edge), "image.shortest_edge must be a positive integer")
        _check(len(self.mean) == 3 and len(self.std) == 3, "image.mean and image.std need 3 values")
        _check(all(_finite(s) and s > 0 for s in self.std), "image.std values must be > 0")
        _check(all(_finite(m) for m in self.mean) and _finite(self.rescale), "image values must be numbers")


@dataclass(frozen=True)
class TextSpec:
    """How a prompt becomes token ids: text clean-up, then tokenizer.json with this padding and truncation."""

    max_length: int
    padding: str  # "longest" (CLIP: masked) or "max_length" (SigLIP pools the last position)
    pad_id: int
    inputs: tuple[str, ...] = ("input_ids",)
    # done before the tokenizer (SigLIP's canonical text); CLIP's tokenizer.json lowercases by itself
    lowercase: bool = False
    strip_punctuation: bool = False

    def __post_init__(self) -> None:
        _check(_pos_int(self.max_length), "text.max_length must be a positive integer")
        _check(self.padding in PADDING, f"text.padding must be one of {PADDING}, got {self.padding!r}")
        _check(isinstance(self.pad_id, int) and self.pad_id >= 0, "text.pad_id must be an integer ≥ 0")
        _check(
            len(self.inputs) > 0 and self.inputs[0] == "input_ids" and set(self.inputs) <= set(TEXT_INPUTS),
            f"text.inputs must start with input_ids and use only {TEXT_INPUTS}, got {list(self.inputs)}",
        )


@dataclass(frozen=True)
class Scoring:
    """Zero-shot scores: logits = logit_scale · cos + logit_bias; softmax over prompts (CLIP) or sigmoid (SigLIP)."""

    logit_scale: float
    logit_bias: float = 0.0
    activation: str = "softmax"

    def __post_init__(self) -> None:
        _check(
            _finite(self.logit_scale) and self.logit_scale > 0,
            "scoring.logit_scale must be a finite number > 0",
        )
        _check(_finite(self.logit_bias), "scoring.logit_bias must be a finite number")
        _check(self.activation in ("softmax", "sigmoid"), "scoring.activation must be softmax or sigmoid")


@dataclass(frozen=True)
class Encoder:
    """One ONNX file's signature: its input names, the embedding output's name, and whether it is L2-normalised."""

    file: str
    inputs: tuple[str, ...]
    output: str
    normalised: bool = True
    sha256: str | None = None


@dataclass(frozen=True)
class BackboneConfig:
    """An image–text bundle's config.json, validated."""

    family: str
    name: str
    embedding_dim: int
    image: ImageSpec
    text: TextSpec
    scoring: Scoring
    image_encoder: Encoder
    text_encoder: Encoder
    source: str = "unknown"
    licence: str = "not stated"
    extra: dict[str, Any] = field(default_factory=dict)  # provenance, checks, cost: recorded, not interpreted

    def __post_init__(self) -> None:
        _check(self.family in FAMILIES, f"family must be one of {FAMILIES}, got {self.family!r}")
        _check(_pos_int(self.embedding_dim), "embedding_dim must be a positive integer")
        want = "sigmoid" if self.family == "siglip" else "softmax"
        _check(
            self.scoring.activation == want,
            f"{self.family} scores with {want}, not {self.scoring.activation}",
        )
        _check(
            tuple(self.text_encoder.inputs) == tuple(self.text.inputs),
            f"text encoder inputs {list(self.text_encoder.inputs)} ≠ text.inputs {list(self.text.inputs)}",
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to config.json."""
        body = asdict(self)
        extra = body.pop("extra")
        files = {"image_encoder": body.pop("image_encoder"), "text_encoder": body.pop("text_encoder")}
        files["tokenizer"] = TOKENIZER
        return {"kind": KIND, "format_version": FORMAT_VERSION, **body, "files": files, **extra}


def config_from_dict(raw: dict[str, Any], where: str = CONFIG) -> BackboneConfig:
    """Validate a parsed config.json; a BundleError says which field is wrong."""
    if not isinstance(raw, dict) or raw.get("kind") != KIND:
        kind = raw.get("kind") if isinstance(raw, dict) else type(raw).__name__
        raise BundleError(f"{where}: not an image–text bundle config (kind {kind!r}, expected {KIND!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{where}: format_version {raw.get('format_version')!r}, this ShopLens reads 1")
    known = {"kind", "format_version", "family", "name", "embedding_dim", "image", "text", "scoring", "files"}
    known |= {"source", "licence"}
    try:
        files = raw["files"]
        return BackboneConfig(
            family=raw["family"],
            name=str(raw["name"]),
            embedding_dim=raw["embedding_dim"],
            image=ImageSpec(**_tuples(raw["image"], "size", "mean", "std")),
            text=TextSpec(**_tuples(raw["text"], "inputs")),
            scoring=Scoring(**raw["scoring"]),
            image_encoder=Encoder(**_tuples(files["image_encoder"], "inputs")),
            text_encoder=Encoder(**_tuples(files["text_encoder"], "inputs")),
            source=str(raw.get("source", "unknown")),
            licence=str(raw.get("licence", "not stated")),
            extra={k: v for k, v in raw.items() if k not in known},
        )
    except KeyError as e:
        raise BundleError(f"{where}: missing field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise BundleError(f"{where}: {e}") from None


def read_config(bundle: str | os.PathLike) -> BackboneConfig:
    """Read and validate BUNDLE/config.json."""
    path = Path(bundle) / CONFIG
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{bundle}: no {CONFIG} (not an image–text bundle)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: unreadable ({e})") from None
    return config_from_dict(raw, str(path))


def _tuples(section: Any, *keys: str) -> dict[str, Any]:
    """A config section with its list values turned into tuples (so the frozen dataclasses compare equal)."""
    if not isinstance(section, dict):
        raise TypeError(f"expected an object, got {type(section).__name__}")
    return {k: tuple(v) if k in keys and isinstance(v, list) else v for k, v in section.items()}


def _check(ok: object, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _pos_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
