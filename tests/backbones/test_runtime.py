"""The serving side: ONNX Runtime + tokenizers + numpy, without torch or transformers; scoring per family."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoplens.backbones import load_backbone, logits, probabilities
from shoplens.backbones.config import ImageSpec, Scoring, TextSpec, config_from_dict
from shoplens.backbones.preprocess import clean_text, image_to_pixels, resized_size
from shoplens.errors import BundleError
from tests.backbones.conftest import PROMPTS, photos

SERVE = """
import json, sys
import numpy as np
from PIL import Image
from shoplens.backbones import load_backbone
b = load_backbone(sys.argv[1])
rng = np.random.default_rng(1)
images = [Image.fromarray(rng.integers(0, 256, (40 + 9 * i, 70 - 7 * i, 3), dtype=np.uint8)) for i in range(5)]
out = {
    "images": b.embed_images(images).tolist(),
    "texts": b.embed_texts(sys.argv[2:]).tolist(),
    "zero_shot": b.zero_shot(images, sys.argv[2:]).tolist(),
    "heavy": sorted(m for m in ("torch", "transformers", "scipy", "sklearn") if m in sys.modules),
}
print(json.dumps(out))
"""


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_serving_needs_no_torch(family: str, bundles: dict) -> None:
    """In a fresh process the runtime embeds and scores, importing neither torch nor transformers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", SERVE, str(bundles[family]), *PROMPTS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["heavy"] == []
    here = load_backbone(bundles[family])
    np.testing.assert_allclose(got["images"], here.embed_images(photos()), atol=1e-5)
    np.testing.assert_allclose(got["texts"], here.embed_texts(PROMPTS), atol=1e-5)
    np.testing.assert_allclose(got["zero_shot"], here.zero_shot(photos(), PROMPTS), atol=1e-5)


def test_scoring_per_family() -> None:
    """CLIP: softmax over prompts (rows sum to 1); SigLIP: sigmoid(scale·cos + bias) per prompt."""
    img = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
    txt = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
    clip, siglip = Scoring(100.0), Scoring(10.0, -5.0, "sigmoid")
    p = probabilities(logits(img, txt, clip), clip)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert p[0].argmax() == 0 and p[1].argmax() == 2
    s = probabilities(logits(img, txt, siglip), siglip)
    np.testing.assert_allclose(s[0], 1 / (1 + np.exp(-np.array([5.0, -5.0, 1.0]))), atol=1e-6)


def test_embeddings_are_unit_length_and_batching_does_not_matter(bundles: dict) -> None:
    """Rows are L2-normalised; batches of 2 give what one batch gives; nothing in, nothing out."""
    backbone = load_backbone(bundles["clip"])
    whole = backbone.embed_images(photos())
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(backbone.embed_images(photos(), batch_size=2), whole, atol=1e-5)
    np.testing.assert_allclose(
        backbone.embed_texts(PROMPTS, batch_size=3), backbone.embed_texts(PROMPTS), atol=1e-5
    )
    assert backbone.embed_images([]).shape == (0, backbone.dim)
    assert backbone.embed_texts([]).shape == (0, backbone.dim)
    with pytest.raises(ValueError, match="at least one prompt"):
        backbone.zero_shot(photos(1), [])
    with pytest.raises(TypeError, match="one string"):
        backbone.embed_texts("a red dress")


def test_preprocessing_resize_and_crop() -> None:
    """Short side to the edge then a centre crop (CLIP), or a squash to the size (SigLIP); RGB, normalised."""
    clip = ImageSpec(
        "shortest_edge", (4, 4), shortest_edge=4, resample="nearest", mean=(0, 0, 0), std=(1, 1, 1)
    )
    assert resized_size(10, 20, clip) == (4, 8) and resized_size(30, 12, clip) == (10, 4)
    img = Image.new("RGB", (8, 4), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 2, 4))  # a blue band on the left, cropped away
    px = image_to_pixels(img, clip)
    assert px.shape == (3, 4, 4) and np.allclose(px[0], 1.0) and np.allclose(px[2], 0.0)
    squash = ImageSpec("exact", (3, 5), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    grey = image_to_pixels(Image.new("L", (50, 9), 255), squash)
    assert grey.shape == (3, 3, 5) and np.allclose(grey, 1.0)


def test_text_clean_up() -> None:
    """Only the families that ask for it lowercase and strip punctuation."""
    siglip = TextSpec(64, "max_length", 1, lowercase=True, strip_punctuation=True)
    assert clean_text("  A RED,  summer-dress! ", siglip) == "a red summerdress"
    clip = TextSpec(77, "longest", 0, ("input_ids", "attention_mask"))
    assert clean_text("A RED, dress", clip) == "A RED, dress"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(kind="classifier"), "not an image–text bundle"),
        (lambda c: c.pop("scoring"), "missing field 'scoring'"),
        (lambda c: c.update(family="blip"), "family must be one of"),
        (lambda c: c["scoring"].update(activation="softmax"), "siglip scores with sigmoid"),
        (lambda c: c["image"].update(size=[0, 32]), r"image.size must be \[h, w\] > 0"),
        (lambda c: c["text"].update(padding="left"), "text.padding must be one of"),
        (lambda c: c["image"].update(colour="rgb"), "unexpected keyword argument 'colour'"),
    ],
)
def test_bad_config_is_a_clear_error(bundles: dict, change, message: str) -> None:
    """Each broken field of config.json is named in the error."""
    raw = json.loads((bundles["siglip"] / "config.json").read_text())
    change(raw)
    with pytest.raises(BundleError, match=message):
        config_from_dict(raw)


def test_broken_bundle_folder(bundles: dict, tmp_path: Path) -> None:
    """A bundle with a corrupt encoder, a renamed output or no tokenizer fails to load with the file named."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundles["clip"], broken)
    (broken / "image_encoder.onnx").write_bytes(b"not onnx")
    with pytest.raises(BundleError, match=r"image_encoder\.onnx: ONNX Runtime cannot load it"):
        load_backbone(broken)
    shutil.copyfile(bundles["clip"] / "image_encoder.onnx", broken / "image_encoder.onnx")
    raw = json.loads((broken / "config.json").read_text())
    raw["files"]["text_encoder"]["output"] = "pooled"
    (broken / "config.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"config\.json says"):
        load_backbone(broken)
    shutil.copyfile(bundles["clip"] / "config.json", broken / "config.json")
    (broken / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"tokenizer\.json"):
        load_backbone(broken)
    with pytest.raises(BundleError, match=r"no config\.json"):
        load_backbone(tmp_path)
