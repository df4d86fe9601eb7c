"""Tiny CLIP and SigLIP checkpoints (real architectures, random weights) and their imported bundles, built once."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from shoplens.backbones.export import tower_features
from shoplens.backbones.importer import import_backbone
from shoplens.backbones.tiny import save_checkpoint

FAMILIES = ("clip", "siglip")
SCORING = {"clip": {"logit_scale": 20.0}, "siglip": {"logit_scale": 10.0, "logit_bias": -2.0}}
PROMPTS = ["a red dress", "blue jeans", "black boots", "a striped sweater"]


def photos(n: int = 5, seed: int = 1) -> list[Image.Image]:
    """Random RGB photos of assorted shapes."""
    rng = np.random.default_rng(seed)
    shapes = [(40 + 9 * i, 70 - 7 * i) for i in range(n)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]


def reference(folder: Path, family: str) -> tuple[nn.Module, object, object]:
    """transformers' own model, tokenizer and image processor for a checkpoint folder."""
    from shoplens.backbones.importer import load_reference

    return load_reference(folder, family)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family → a tiny checkpoint folder as `save_pretrained` writes it."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {f: save_checkpoint(root / f"tiny-{f}", f, **SCORING[f]) for f in FAMILIES}


@pytest.fixture(scope="session")
def bundles(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family → the bundle `import_backbone` made from its tiny checkpoint."""
    root = tmp_path_factory.mktemp("bundles")
    return {f: import_backbone(checkpoints[f], root / f) for f in FAMILIES}


class _Unnormalised(nn.Module):
    """A tower as Transformers.js exports it: raw embeddings plus the last hidden state, not L2-normalised."""

    def __init__(self, model: nn.Module, tower: str) -> None:
        super().__init__()
        self.model, self.tower = model, tower

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tower == "image":
            out = self.model.get_image_features(pixel_values=x)
        else:
            out = self.model.get_text_features(input_ids=x)
        return tower_features(out), out.last_hidden_state


def onnx_only_checkpoint(checkpoint: Path, folder: Path) -> Path:
    """A SigLIP checkpoint laid out like Marqo's fashionSigLIP: open_clip config, weights we cannot load, onnx/."""
    model, _, _ = reference(checkpoint, "siglip")
    (folder / "onnx").mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "README.md"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    config = {"auto_map": {"AutoModel": "marqo_fashionSigLIP.MarqoFashionSigLIP"}, "model_type": "siglip"}
    config["open_clip_model_name"] = "hf-hub:example/tiny-siglip"
    (folder / "config.json").write_text(json.dumps(config))
    length = model.config.text_config.max_position_embeddings
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": {"text_cfg": {"context_length": length}}})
    )
    save_file(
        {
            "model.logit_scale": model.logit_scale.detach().clone(),
            "model.logit_bias": model.logit_bias.detach().clone(),
        },
        str(folder / "model.safetensors"),
    )
    side = model.config.vision_config.image_size
    # tracer and exporter warnings; pytest restores the warning filters after each test
    warnings.simplefilter("ignore")
    for tower, dummy, in_name, out_name in (
        ("image", torch.zeros(2, 3, side, side), "pixel_values", "image_embeds"),
        ("text", torch.ones(2, length, dtype=torch.long), "input_ids", "text_embeds"),
    ):
        torch.onnx.export(
            _Unnormalised(model, tower).eval(),
            (dummy,),
            str(folder / "onnx" / f"{'vision' if tower == 'image' else 'text'}_model.onnx"),
            dynamo=False,
            input_names=[in_name],
            output_names=[out_name, "last_hidden_state"],
            dynamic_axes={in_name: {0: "batch_size"}, out_name: {0: "batch_size"}},
        )
    return folder
