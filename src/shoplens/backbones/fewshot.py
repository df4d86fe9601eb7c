"""Few-shot models at serving time: a frozen encoder (an image–text backbone or a ShopLens bundle) and a linear head.

A few-shot model version is `<models_dir>/<name>/<version>/` with config.json (kind "few-shot": the encoder's
absolute path, labels, calibration) and head.npz (weights (K, D), bias (K,)); `shoplens train --backbone`
writes it (shoplens.training.fewshot). Probabilities are softmax((embedding · Wᵀ + b) / temperature).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from shoplens.errors import BundleError
from shoplens.imaging import PreprocessConfig
from shoplens.inference.kinds import FEW_SHOT
from shoplens.inference.predictor import Predictor, l2_normalize, softmax
from shoplens.models.bundle import BundleSpec

HEAD = "head.npz"


class FrozenEncoder:
    """Photos → unit embeddings with an image–text bundle's image tower or a trained bundle's features."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        self.path = Path(path).resolve()
        raw = _config(self.path)
        if "kind" not in raw and "preprocess" not in raw:  # a Hugging Face checkpoint's own config.json
            raise BundleError(
                f"{self.path} is neither an image–text bundle nor a ShopLens bundle: a checkpoint downloaded from "
                f"Hugging Face is imported first (shoplens backbone import {self.path})"
            )
        self.kind = "image-text" if raw.get("kind") == "image-text" else "bundle"
        if self.kind == "image-text":
            from shoplens.backbones.runtime import load_backbone

            self.backbone = load_backbone(self.path, threads)
            self.dim = self.backbone.dim
        else:
            from shoplens.inference.runtime import load_predictor

            self.predictor = load_predictor(self.path, threads=threads)
            self.dim = self.predictor.embedding_dim

    @property
    def identity(self) -> str:
        """A digest of the encoder's config and weight files (names, sizes, times): a cache key for embeddings."""
        h = hashlib.sha256(str(self.path).encode())
        for f in sorted(
            p for p in self.path.iterdir() if p.is_file() and p.suffix in {".json", ".onnx", ".safetensors"}
        ):
            stat = f.stat()
            h.update(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return h.hexdigest()

    @property
    def fingerprint(self) -> str:
        """A digest of what the encoder computes: its config.json (an image–text bundle's records its ONNX files'
        sha256) and a trained bundle's weights; the same wherever the folder is copied."""
        h = hashlib.sha256((self.path / "config.json").read_bytes())
        weights = self.path / "model.safetensors"
        if self.kind == "bundle" and weights.is_file():
            h.update(hashlib.sha256(weights.read_bytes()).digest())
        return h.hexdigest()

    def to_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded photos as this encoder's input batch."""
        if self.kind == "image-text":
            from shoplens.backbones.preprocess import images_to_pixels

            return images_to_pixels(images, self.backbone.config.image)
        return self.predictor.to_batch(images)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Unit (N, D) embeddings of an input batch."""
        if self.kind == "image-text":
            return self.backbone.embed_pixels(batch)
        return l2_normalize(self.predictor.run(batch)[1]).astype(np.float32)


class FewShotPredictor(Predictor):
    """A linear head over a frozen encoder, answering like any Predictor."""

    def __init__(
        self, bundle: BundleSpec, encoder: FrozenEncoder, weights: np.ndarray, bias: np.ndarray
    ) -> None:
        if weights.shape != (len(bundle.labels), encoder.dim) or bias.shape != (len(bundle.labels),):
            raise BundleError(
                f"{bundle.path}: head {weights.shape} + {bias.shape} does not fit "
                f"{len(bundle.labels)} labels × {encoder.dim} features"
            )
        self.bundle = bundle
        self.session = None  # type: ignore[assignment]  # the encoder runs instead
        self.top_k = min(3, len(bundle.labels))
        self.encoder = encoder
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)

    def read(self, img: Image.Image) -> tuple[np.ndarray, dict[str, float]]:
        """The photo as this model's input; no photo-reader cues (its own preprocessing)."""
        return self.to_input(img), {}

    def read_batch(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Photos as this model's input batch; no photo-reader cues."""
        return self.to_batch(list(images)), [{} for _ in images]

    @property
    def reading(self) -> None:
        """None: photos are read by this model's own preprocessing, never elsewhere."""
        return None

    def to_input(self, img: Image.Image) -> np.ndarray:
        """One photo as the encoder's input."""
        return self.encoder.to_batch([img])[0]

    def to_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Photos as the encoder's input batch."""
        return self.encoder.to_batch(images)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities (N, K) and unit embeddings (N, D)."""
        emb = self.encoder.embed(batch)
        logits = emb @ self.weights.T + self.bias
        return softmax(logits, self.bundle.temperature).astype(np.float32), emb


def load_few_shot(path: str | os.PathLike, threads: int | None = None) -> FewShotPredictor:
    """Open a few-shot model version: its encoder and its head."""
    path = Path(path)
    raw = _config(path)
    if raw.get("kind") != FEW_SHOT or "encoder" not in raw:
        raise BundleError(f"{path}: not a few-shot model version")
    try:
        with np.load(path / HEAD, allow_pickle=False) as head:
            weights, bias = head["weights"], head["bias"]
    except (OSError, KeyError, ValueError) as e:
        raise BundleError(f"{path / HEAD}: unreadable ({e})") from None
    encoder = FrozenEncoder(raw["encoder"], threads)
    if raw.get("encoder_sha256") not in (None, encoder.fingerprint):
        raise BundleError(
            f"{path}: its encoder {raw['encoder']} changed since the head was fitted (imported or trained again "
            "there): fit the few-shot head again (shoplens train --backbone …)"
        )
    spec = BundleSpec(
        path=path,
        config=raw,
        preprocess=PreprocessConfig(),  # unused: to_input is the encoder's
        labels=[str(label) for label in raw["labels"]],
        temperature=float(raw.get("temperature", 1.0)),
        review_threshold=float(raw.get("review_threshold", 0.0)),
        embedding_dim=encoder.dim,
    )
    return FewShotPredictor(spec, encoder, weights, bias)


def _config(path: Path) -> dict:
    """A folder's config.json."""
    try:
        raw = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: no readable config.json ({e})") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{path / 'config.json'}: not an object")
    return raw
