"""Import tiny CLIP/SigLIP checkpoints and check the bundle against transformers, step by step."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplens.backbones import load_backbone
from shoplens.backbones.config import CARD, IMAGE_ENCODER, TEXT_ENCODER, TOKENIZER, read_config
from shoplens.backbones.importer import import_backbone
from shoplens.backbones.preprocess import clean_text
from tests.support.backbones import FAMILIES, PROMPTS, SCORING, reference
from tests.support.images import noise_photos as photos

pytestmark = pytest.mark.slow

ATOL = 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_bundle_matches_transformers(family: str, checkpoints: dict, bundles: dict) -> None:
    """Own preprocessing + tokenizer + ONNX Runtime vs the checkpoint's processor + tokenizer + model."""
    model, tokenizer, processor = reference(checkpoints[family], family)
    backbone = load_backbone(bundles[family])
    images = photos()
    padding = "max_length" if family == "siglip" else "longest"
    texts = [clean_text(t, backbone.config.text) for t in PROMPTS]
    tokens = tokenizer(
        texts, padding=padding, max_length=backbone.config.text.max_length, return_tensors="pt"
    )
    inputs = {k: v for k, v in tokens.items() if k in backbone.config.text.inputs}
    pixels = torch.from_numpy(np.asarray(processor(images=images, return_tensors="np")["pixel_values"]))
    with torch.no_grad():
        out = model(**inputs, pixel_values=pixels)

    img, txt = backbone.embed_images(images), backbone.embed_texts(PROMPTS)
    np.testing.assert_allclose(img, out.image_embeds.numpy(), atol=ATOL)
    np.testing.assert_allclose(txt, out.text_embeds.numpy(), atol=ATOL)
    logits = backbone.logits(img, txt)
    np.testing.assert_allclose(logits, out.logits_per_image.numpy(), atol=ATOL * 100)
    assert (np.argsort(-logits, axis=1) == np.argsort(-out.logits_per_image.numpy(), axis=1)).all()
    want = out.logits_per_image.softmax(-1) if family == "clip" else torch.sigmoid(out.logits_per_image)
    np.testing.assert_allclose(backbone.zero_shot(images, PROMPTS), want.numpy(), atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_config_records_what_serving_needs(family: str, bundles: dict) -> None:
    """Family, scoring, files, checks and cost are in config.json; the model card says source and licence."""
    config = read_config(bundles[family])
    files = {p.name for p in bundles[family].iterdir()}
    assert files == {"config.json", CARD, IMAGE_ENCODER, TEXT_ENCODER, TOKENIZER}
    assert config.family == family and config.licence == "apache-2.0"
    assert math.isclose(config.scoring.logit_scale, SCORING[family]["logit_scale"], rel_tol=1e-5)
    assert config.scoring.logit_bias == pytest.approx(SCORING[family].get("logit_bias", 0.0))
    assert config.scoring.activation == ("softmax" if family == "clip" else "sigmoid")
    assert config.text.inputs == (("input_ids", "attention_mask") if family == "clip" else ("input_ids",))
    checks = config.extra["checks"]
    assert checks["passed"] and checks["token_ids_identical"] and checks["rankings_identical"]
    assert max(checks["max_abs_diff"].values()) < 1e-3
    assert config.extra["cost"]["ms_per_item"]["image_batch_1"] > 0
    card = (bundles[family] / CARD).read_text()
    assert "apache-2.0" in card and "## What it costs on this machine" in card and "## Limits" in card


def test_siglip_text_is_canonicalised(bundles: dict) -> None:
    """SigLIP lowercases and drops punctuation before tokenising, so these prompts embed identically."""
    backbone = load_backbone(bundles["siglip"])
    a, b = backbone.embed_texts(["Red, SUMMER dress!", "red summer dress"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_hub_cache_layout_and_source(checkpoints: dict, tmp_path: Path) -> None:
    """A models--org--name cache entry resolves to its snapshot (refs/main) and names its source."""
    entry = tmp_path / "hub" / "models--example--tiny-clip"
    snapshot = entry / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for f in checkpoints["clip"].iterdir():
        (snapshot / f.name).symlink_to(f)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("abc123")
    out = import_backbone(entry, root=tmp_path / "backbones", measure=False)
    assert out == tmp_path / "backbones" / "tiny-clip"
    assert read_config(out).source == "example/tiny-clip"


def test_reimport_of_a_bundle_keeps_its_checks(bundles: dict, tmp_path: Path) -> None:
    """A bundle folder is itself importable (ONNX route): same config, and the first import's checks kept."""
    out = import_backbone(bundles["clip"], tmp_path / "copy", measure=False)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # readable by a server run as another user
    before, after = read_config(bundles["clip"]), read_config(out)
    for field in ("image", "text", "scoring", "name"):
        assert getattr(after, field) == getattr(before, field)
    assert after.extra["checks"]["at_first_import"]["reference"] == "transformers"
    np.testing.assert_allclose(
        load_backbone(out).embed_texts(PROMPTS),
        load_backbone(bundles["clip"]).embed_texts(PROMPTS),
        atol=1e-6,
    )


def test_failed_check_leaves_nothing_behind(checkpoints: dict, tmp_path: Path, monkeypatch) -> None:
    """When the comparison with transformers fails, neither the bundle nor a temporary folder remains."""
    from shoplens.backbones import importer
    from shoplens.errors import BundleError

    def disagree(*args, **kwargs):
        raise BundleError("the exported bundle does not match transformers: logits max abs diff 1 > 0.001")

    monkeypatch.setattr(importer, "check_against_transformers", disagree)
    target = tmp_path / "out" / "clip"
    with pytest.raises(BundleError, match="does not match"):
        import_backbone(checkpoints["clip"], target)
    assert list((tmp_path / "out").iterdir()) == []


def test_force_replaces_an_existing_bundle_and_nothing_else(
    bundles: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force swaps a new bundle in for a bundle; a folder of anything else (the user's photos, the checkpoint
    itself, the current folder) is refused with or without it and left as it was."""
    from shoplens.errors import BundleError

    target = tmp_path / "b"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    for force in (False, True):
        with pytest.raises(BundleError, match=r"already exists|holds no image–text bundle"):
            import_backbone(bundles["siglip"], target, force=force, measure=False)
        assert [p.name for p in target.iterdir()] == ["keep.txt"]
    monkeypatch.chdir(target)
    with pytest.raises(BundleError, match="holds no image–text bundle"):
        import_backbone(bundles["siglip"], ".", force=True, measure=False)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    bundle = tmp_path / "bundle"
    import_backbone(bundles["clip"], bundle, measure=False)
    import_backbone(bundles["siglip"], bundle, force=True, measure=False)
    assert json.loads((bundle / "config.json").read_text())["family"] == "siglip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "bundle"]  # no swap folder left behind


@pytest.mark.parametrize("name", ["../../escaped", "a/b", ".hidden", ""])
def test_a_bundle_name_is_a_folder_name_not_a_path(bundles: dict, tmp_path: Path, name: str) -> None:
    from shoplens.errors import BundleError

    with pytest.raises(BundleError, match="bundle name"):
        import_backbone(bundles["clip"], name=name, root=tmp_path / "root", measure=False)
    assert not (tmp_path / "root").exists() and sorted(p.name for p in tmp_path.iterdir()) == []
