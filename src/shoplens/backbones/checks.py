"""An imported bundle against transformers: preprocessing, token ids, both embeddings, zero-shot logits and ranks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shoplens.backbones.preprocess import clean_text, images_to_pixels
from shoplens.backbones.runtime import ImageTextBackbone, probabilities
from shoplens.backbones.samples import SAMPLE_TEXTS, sample_images
from shoplens.errors import BundleError

PIXEL_ATOL = 1e-4  # our numpy preprocessing vs the checkpoint's image processor (same PIL resize)
EMBED_ATOL = 1e-4  # per component of unit-length embeddings, ONNX Runtime vs transformers


def logit_atol(logit_scale: float) -> float:
    """Allowed logit difference: a cosine off by 2·EMBED_ATOL, times the scale."""
    return 2 * EMBED_ATOL * logit_scale + 1e-5


def rankings_agree(want: np.ndarray, have: np.ndarray, atol: float) -> bool:
    """Per row, every pair of prompts that `want` orders by more than 2·atol is ordered the same way in `have`."""
    ahead = want[:, :, None] - want[:, None, :] > 2 * atol
    return bool(np.all(~ahead | (have[:, :, None] > have[:, None, :])))


@torch.no_grad()
def check_against_transformers(
    backbone: ImageTextBackbone, model: torch.nn.Module, hf_tokenizer: Any, image_processor: Any
) -> dict[str, Any]:
    """Compare every step of the bundle with transformers; a BundleError lists what is off, else the numbers."""
    cfg = backbone.config
    images, texts = sample_images(cfg.image), list(SAMPLE_TEXTS)
    pixels = images_to_pixels(images, cfg.image)
    hf_pixels = np.asarray(image_processor(images=images, return_tensors="np")["pixel_values"], np.float32)
    padding = "max_length" if cfg.text.padding == "max_length" else "longest"
    hf_tokens = hf_tokenizer(
        [clean_text(t, cfg.text) for t in texts],
        padding=padding,
        truncation=True,
        max_length=cfg.text.max_length,
        return_tensors="np",
    )
    tokens = backbone.tokenizer(texts)
    feeds = {name: torch.from_numpy(tokens[name]) for name in cfg.text.inputs}
    out = model(**feeds, pixel_values=torch.from_numpy(pixels))
    want_img, want_txt = out.image_embeds.numpy(), out.text_embeds.numpy()
    want_logits = out.logits_per_image.numpy()

    img, txt = backbone.embed_pixels(pixels), backbone.embed_texts(texts)
    have_logits = backbone.logits(img, txt)
    atol = logit_atol(cfg.scoring.logit_scale)
    diffs = {
        "pixels": _diff(pixels, hf_pixels),
        "image_embeds": _diff(img, want_img),
        "text_embeds": _diff(txt, want_txt),
        "image_embeds_batch_of_one": _diff(backbone.embed_pixels(pixels[:1]), want_img[:1]),
        "text_embeds_batch_of_one": _diff(backbone.embed_texts(texts[:1]), want_txt[:1]),
        "logits": _diff(have_logits, want_logits),
        "probabilities": _diff(
            probabilities(have_logits, cfg.scoring), probabilities(want_logits, cfg.scoring)
        ),
    }
    limits = {"pixels": PIXEL_ATOL, "logits": atol, "probabilities": atol}
    failed = []
    for name, value in diffs.items():
        limit = limits.get(name, EMBED_ATOL)
        if not value <= limit:
            failed.append(f"{name} max abs diff {value:.3g} > {limit:.3g}")
    for name in cfg.text.inputs:
        if not np.array_equal(tokens[name], np.asarray(hf_tokens[name])):
            failed.append(f"{name} differ from the checkpoint's tokenizer")
    if not rankings_agree(want_logits, have_logits, atol):
        failed.append("zero-shot rankings differ")
    if failed:
        raise BundleError("the exported bundle does not match transformers: " + "; ".join(failed))
    return {
        "reference": "transformers",
        "passed": True,
        "images": [list(im.size[::-1]) for im in images],
        "texts": len(texts),
        "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diffs.items()},
        "tolerance": {"pixels": PIXEL_ATOL, "embeddings": EMBED_ATOL, "logits": float(f"{atol:.3g}")},
        "token_ids_identical": True,
        "rankings_identical": True,
    }


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference; infinite when the shapes differ."""
    a, b = np.asarray(a), np.asarray(b)
    return (
        float(np.abs(a - b).max())
        if a.shape == b.shape and a.size
        else (0.0 if a.shape == b.shape else np.inf)
    )
