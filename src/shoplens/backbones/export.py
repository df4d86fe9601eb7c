"""Both towers of a transformers CLIP/SigLIP model as ONNX graphs that end in L2-normalised embeddings."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from shoplens.backbones.config import TextSpec

OPSET = 17


def tower_features(out: object) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4) or an output whose pooler_output is it (transformers 5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output  # type: ignore[attr-defined]


class ImageTower(nn.Module):
    """pixel_values (N, 3, H, W) → unit-length image embeddings (N, D)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        feats = tower_features(self.model.get_image_features(pixel_values=pixel_values))
        return nn.functional.normalize(feats, dim=-1)


class TextTower(nn.Module):
    """input_ids (N, L) [, attention_mask (N, L)] → unit-length text embeddings (N, D)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        feats = tower_features(
            self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        )
        return nn.functional.normalize(feats, dim=-1)


def export_towers(
    model: nn.Module, image_size: tuple[int, int], text: TextSpec, image_path: Path, text_path: Path
) -> None:
    """Write image_path (pixel_values → image_embeds) and text_path (text.inputs → text_embeds), batch dynamic.

    The sequence axis is dynamic too when the family pads to the longest prompt (CLIP); SigLIP's graph takes exactly
    max_length tokens, as it pools the last position.
    """
    pixels = torch.zeros(2, 3, *image_size)
    length = text.max_length if text.padding == "max_length" else min(8, text.max_length)
    ids = torch.full((2, length), text.pad_id, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, length // 2 :] = 0  # padding in the traced batch, so no all-ones shortcut is baked into the graph
    feeds = (ids, mask) if "attention_mask" in text.inputs else (ids,)
    text_axes = {0: "batch"} if text.padding == "max_length" else {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # tracer warnings about python control flow on shapes, and the exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ImageTower(model).eval(),
            (pixels,),
            str(image_path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["pixel_values"],
            output_names=["image_embeds"],
            dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
            do_constant_folding=True,
        )
        torch.onnx.export(
            TextTower(model).eval(),
            feeds,
            str(text_path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(text.inputs),
            output_names=["text_embeds"],
            dynamic_axes={**dict.fromkeys(text.inputs, text_axes), "text_embeds": {0: "batch"}},
            do_constant_folding=True,
        )
