"""Importing a folder that already holds ONNX encoders, laid out as Marqo's fashionSigLIP download is."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplens.backbones import load_backbone
from shoplens.backbones.config import read_config
from shoplens.backbones.importer import import_backbone
from shoplens.errors import BundleError
from tests.support.backbones import PROMPTS, SCORING, onnx_only_checkpoint, reference
from tests.support.images import noise_photos as photos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_checkpoint(checkpoints: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """open_clip config + onnx/vision_model.onnx + onnx/text_model.onnx with raw (unnormalised) outputs."""
    return onnx_only_checkpoint(checkpoints["siglip"], tmp_path_factory.mktemp("marqo-like"))


def test_onnx_encoders_import_and_match_transformers(
    onnx_checkpoint: Path, checkpoints: dict, tmp_path: Path
) -> None:
    """Signatures found (outputs by name), logit scale/bias read from safetensors, embeddings normalised."""
    out = import_backbone(onnx_checkpoint, tmp_path / "b", measure=False)
    config = read_config(out)
    assert config.family == "siglip" and config.text.max_length == 16 and config.text.padding == "max_length"
    assert config.image_encoder.output == "image_embeds" and not config.image_encoder.normalised
    assert math.isclose(config.scoring.logit_scale, SCORING["siglip"]["logit_scale"], rel_tol=1e-5)
    assert config.scoring.logit_bias == pytest.approx(-2.0)
    assert config.extra["checks"]["reference"] is None
    model, _, processor = reference(checkpoints["siglip"], "siglip")
    backbone = load_backbone(out)
    pixels = torch.from_numpy(np.asarray(processor(images=photos(), return_tensors="np")["pixel_values"]))
    with torch.no_grad():
        want = model.get_image_features(pixel_values=pixels).pooler_output
    np.testing.assert_allclose(
        backbone.embed_images(photos()), torch.nn.functional.normalize(want).numpy(), atol=1e-4
    )
    reference_bundle = load_backbone(import_backbone(checkpoints["siglip"], tmp_path / "ref", measure=False))
    np.testing.assert_allclose(
        backbone.embed_texts(PROMPTS), reference_bundle.embed_texts(PROMPTS), atol=1e-4
    )
    assert "not compared with a reference model" in (out / "README.md").read_text()


def test_onnx_folder_without_logit_scale(onnx_checkpoint: Path, tmp_path: Path) -> None:
    """Without a safetensors file holding logit_scale the options are required; given, they are used."""
    src = tmp_path / "src"
    src.mkdir()
    for f in onnx_checkpoint.rglob("*"):
        if f.is_file() and f.name != "model.safetensors":
            (src / f.relative_to(onnx_checkpoint)).parent.mkdir(parents=True, exist_ok=True)
            (src / f.relative_to(onnx_checkpoint)).write_bytes(f.read_bytes())
    with pytest.raises(BundleError, match="pass --logit-scale"):
        import_backbone(src, tmp_path / "b", measure=False)
    out = import_backbone(src, tmp_path / "b", logit_scale=30.0, logit_bias=-5.0, measure=False)
    scoring = read_config(out).scoring
    assert (scoring.logit_scale, scoring.logit_bias) == (30.0, -5.0)
    assert json.loads((out / "config.json").read_text())["imported"]["route"].startswith(
        "ONNX encoders taken as given"
    )
    with pytest.raises(BundleError, match="must be a finite number > 0"):
        import_backbone(src, tmp_path / "c", logit_scale=math.nan, logit_bias=-5.0, measure=False)


def test_a_wrong_onnx_encoder_is_named_by_the_users_file(onnx_checkpoint: Path, tmp_path: Path) -> None:
    """An image model where the text model belongs: the error names onnx/text_model.onnx, not a temporary copy."""
    src = tmp_path / "src"
    for f in onnx_checkpoint.rglob("*"):
        if f.is_file():
            (src / f.relative_to(onnx_checkpoint)).parent.mkdir(parents=True, exist_ok=True)
            (src / f.relative_to(onnx_checkpoint)).write_bytes(f.read_bytes())
    (src / "onnx" / "text_model.onnx").write_bytes((src / "onnx" / "vision_model.onnx").read_bytes())
    with pytest.raises(BundleError, match="expected inputs input_ids") as refused:
        import_backbone(src, tmp_path / "b", measure=False)
    assert str(src / "onnx" / "text_model.onnx") in str(refused.value) and ".tmp" not in str(refused.value)
