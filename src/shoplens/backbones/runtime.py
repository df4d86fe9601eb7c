"""An image–text bundle at serving time: ONNX Runtime for both towers, `tokenizers` for text, no torch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from shoplens.backbones.config import TOKENIZER, BackboneConfig, Encoder, Scoring, read_config
from shoplens.backbones.preprocess import TextTokenizer, images_to_pixels
from shoplens.errors import BundleError
from shoplens.inference.predictor import l2_normalize, softmax
from shoplens.processes import usable_cpus

DEFAULT_BATCH = 32


def logits(image_embeddings: np.ndarray, text_embeddings: np.ndarray, scoring: Scoring) -> np.ndarray:
    """(N images, P prompts) zero-shot logits: logit_scale · cosine + logit_bias."""
    return scoring.logit_scale * (image_embeddings @ text_embeddings.T) + scoring.logit_bias


def probabilities(logit: np.ndarray, scoring: Scoring) -> np.ndarray:
    """Softmax over prompts (CLIP: the prompts compete) or one sigmoid per prompt (SigLIP: each is a yes/no)."""
    logit = np.asarray(logit, np.float64)
    if scoring.activation == "sigmoid":
        return (1 / (1 + np.exp(-logit))).astype(np.float32)
    return softmax(logit).astype(np.float32)


def onnx_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU ONNX Runtime session with every graph optimisation and `threads` intra-op threads."""
    if not path.is_file():
        raise BundleError(f"{path} does not exist")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or usable_cpus()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's own exception types derive from Exception only
        raise BundleError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from e


class ImageTextBackbone:
    """Embeds images and prompts into one space and scores them against each other (a loaded bundle)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        self.path = Path(path)
        self.config: BackboneConfig = read_config(self.path)
        self.image_session = onnx_session(self.path / self.config.image_encoder.file, threads)
        self.text_session = onnx_session(self.path / self.config.text_encoder.file, threads)
        _check_signature(self.image_session, self.config.image_encoder, self.path)
        _check_signature(self.text_session, self.config.text_encoder, self.path)
        self.tokenizer = TextTokenizer(self.path / TOKENIZER, self.config.text)

    @property
    def dim(self) -> int:
        """Width of the shared embedding space."""
        return self.config.embedding_dim

    def embed_pixels(self, pixels: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Unit-length (N, D) embeddings of preprocessed float32 (N, 3, H, W) pixels."""
        enc = self.config.image_encoder
        pixels = np.ascontiguousarray(pixels, np.float32)
        chunks = [
            self.image_session.run([enc.output], {enc.inputs[0]: pixels[i : i + batch_size]})[0]
            for i in range(0, len(pixels), batch_size)
        ]
        return self._finish(chunks, "image")

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Unit-length (N, D) embeddings of decoded images."""
        spec = self.config.image
        chunks = [
            self.embed_pixels(images_to_pixels(images[i : i + batch_size], spec), batch_size)
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Unit-length (N, D) embeddings of prompts or queries."""
        enc = self.config.text_encoder
        chunks = [
            self.text_session.run([enc.output], self.tokenizer(texts[i : i + batch_size]))[0]
            for i in range(0, len(texts), batch_size)
        ]
        return self._finish(chunks, "text")

    def logits(self, image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
        """(N, P) zero-shot logits of embedded images against embedded prompts, with the family's scale and bias."""
        return logits(image_embeddings, text_embeddings, self.config.scoring)

    def zero_shot(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> np.ndarray:
        """(N, P) probabilities: softmax over the prompts for CLIP, an independent sigmoid per prompt for SigLIP."""
        if not prompts:
            raise ValueError("zero-shot scoring needs at least one prompt")
        scores = self.logits(self.embed_images(images), self.embed_texts(prompts))
        return probabilities(scores, self.config.scoring)

    def _finish(self, chunks: list[np.ndarray], tower: str) -> np.ndarray:
        """Concatenated, checked and L2-normalised (a no-op for bundles whose graphs normalise already)."""
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        out = np.concatenate(chunks)
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise BundleError(
                f"{self.path}: the {tower} encoder gave shape {out.shape}, expected (N, {self.dim})"
            )
        return l2_normalize(out).astype(np.float32)


def load_backbone(path: str | os.PathLike, threads: int | None = None) -> ImageTextBackbone:
    """Open an image–text bundle folder (config.json, two ONNX encoders, tokenizer.json)."""
    return ImageTextBackbone(path, threads)


def _check_signature(session: ort.InferenceSession, encoder: Encoder, where: Path) -> None:
    """The graph's input and output names are the ones config.json promises."""
    inputs = tuple(i.name for i in session.get_inputs())
    outputs = [o.name for o in session.get_outputs()]
    if sorted(inputs) != sorted(encoder.inputs) or encoder.output not in outputs:
        raise BundleError(
            f"{where / encoder.file}: inputs {list(inputs)} → outputs {outputs}, but config.json says "
            f"{list(encoder.inputs)} → {encoder.output!r}"
        )
