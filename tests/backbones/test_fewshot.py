"""Few-shot heads on frozen encoders: `shoplens train --backbone`, the embedding cache, serving the result."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shoplens.api import create_app
from shoplens.backbones.fewshot import FrozenEncoder
from shoplens.backbones.serving import model_loader
from shoplens.cli import app as cli
from shoplens.config import Settings
from shoplens.inference.store import ModelStore
from shoplens.training.fewshot import embed_items, fit_head, labelled_photos
from tests.support.bundles import make_bundle
from tests.support.service import serving

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 40, 200)}
pytestmark = pytest.mark.slow  # builds tiny CLIP/SigLIP bundles
runner = CliRunner()


def swatch(rgb: tuple[int, int, int], seed: int, side: int = 40) -> Image.Image:
    """A noisy patch of one colour."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-40, 41, (side, side, 3))
    return Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8))


def labelled_folder(root: Path, per_class: int = 6, classes: dict = COLOURS) -> Path:
    """root/<colour>/<n>.png."""
    for i, (name, rgb) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for n in range(per_class):
            swatch(rgb, seed=100 * i + n).save(root / name / f"{n}.png")
    return root


def png(img: Image.Image) -> bytes:
    """PNG bytes."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_train_backbone_fits_a_head_caches_embeddings_and_serves(bundles: dict, tmp_path: Path) -> None:
    """The CLI writes a few-shot version; a second run embeds nothing; the server classifies new photos with it."""
    folder = labelled_folder(tmp_path / "photos")
    models = tmp_path / "models"
    args = ["train", "--backbone", str(bundles["clip"]), "--folder", str(folder), "--models-dir", str(models)]
    first = runner.invoke(cli, [*args, "--output", str(models / "colours" / "fs1")])
    assert first.exit_code == 0, first.output
    assert "18 photos embedded (0 from the cache)" in first.output
    again = runner.invoke(cli, [*args, "--output", str(models / "colours" / "fs2")])
    assert again.exit_code == 0 and "18 photos embedded (18 from the cache)" in again.output, again.output
    predictor = model_loader()(models / "colours" / "fs1")
    fresh = [swatch(rgb, seed=999 + i) for i, rgb in enumerate(COLOURS.values())]
    assert [p.label for p in predictor.predict_images(fresh)] == list(COLOURS)
    assert "models activate fs1 --name colours" in first.output and "held-out 1.0000" in first.output

    # the CLI answers with it as the server does; what takes trained bundles says why it cannot
    for i, img in enumerate(fresh):
        img.save(tmp_path / f"fresh{i}.png")
    files = [str(tmp_path / f"fresh{i}.png") for i in range(len(fresh))]
    said = runner.invoke(cli, ["predict", str(models / "colours" / "fs1"), *files, "--top-k", "1"])
    assert said.exit_code == 0, said.output
    assert [line.split("\t")[1].split()[0] for line in said.stdout.splitlines()] == list(COLOURS)
    for command in (["evaluate"], ["export"]):
        refused = runner.invoke(cli, [*command, str(models / "colours" / "fs1")])
        assert refused.exit_code != 0 and "is a few-shot version, not a trained bundle" in refused.output
        assert "Traceback" not in refused.output

    # a fifth of each colour was held out to score a head fitted on the rest: activation reads that evaluation
    ModelStore(models, "colours", model_loader()).activate("fs1")
    settings = Settings(
        models_dir=models,
        model_name="colours",
        open_mode=True,
        catalog_dir=tmp_path / "c",
        reload_interval_s=0,
    )

    async def ask() -> list[str]:
        async with serving(create_app(settings)) as c:
            files = [("files", (f"{i}.png", png(img), "image/png")) for i, img in enumerate(fresh)]
            r = await c.post("/v1/classify", files=files)
            assert r.status_code == 200, r.text
            return [res["top"][0]["label"] for res in r.json()["results"]]

    import asyncio

    assert asyncio.run(ask()) == list(COLOURS)


def test_unreadable_photos_are_left_out_and_a_near_chance_head_is_not_activated(
    bundles: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the trainer does: unreadable photos are listed and left out, --activate serves an evaluated head and
    refuses one near chance (exit 2, nothing active), and a relative --output names its version properly."""
    folder = labelled_folder(tmp_path / "photos")
    (folder / "red" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (folder / "blue" / "empty.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    args = ["train", "--backbone", str(bundles["clip"]), "--folder", "photos", "--activate"]
    done = runner.invoke(cli, [*args, "--output", "models/colours/fs1"])
    assert done.exit_code == 0, done.output
    assert "2 photo(s) could not be read and were left out" in done.output and "18 photos" in done.output
    assert "active: fs1" in done.output and (tmp_path / "models/colours/ACTIVE").read_text().strip() == "fs1"
    # the same swatches under labels that mean nothing: the held-out score is chance
    noise = tmp_path / "noise"
    for i, img in enumerate(sorted(p for p in folder.rglob("*.png") if p.stat().st_size)):
        (noise / "abc"[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.open(img).save(noise / "abc"[i % 3] / img.name.replace(".png", f"-{i}.png"))
    refused = runner.invoke(cli, [*args[:4], "noise", "--activate", "--output", "models/colours/fs2"])
    assert refused.exit_code == 2 and "near chance" in refused.output, refused.output
    assert (tmp_path / "models/colours/ACTIVE").read_text().strip() == "fs1"
    hint = runner.invoke(cli, [*args[:4], "photos", "--output", "models/colours/fs3"])
    assert f"--name colours --models-dir {tmp_path / 'models'}" in " ".join(hint.output.split()), hint.output


def test_a_shoplens_bundle_is_an_encoder_too(tmp_path: Path) -> None:
    """A trained bundle's penultimate features as the frozen encoder: dark and light photos told apart."""
    bundle = make_bundle(tmp_path / "models", "v1", seed=3)
    folder = labelled_folder(tmp_path / "photos", classes={"dark": (30, 30, 30), "light": (220, 220, 220)})
    encoder = FrozenEncoder(bundle)
    assert encoder.kind == "bundle"
    embedded = embed_items(encoder, labelled_photos(folder), cache=tmp_path / "cache")
    assert embedded.x.shape == (12, encoder.dim) and embedded.class_names == ["dark", "light"]
    np.testing.assert_allclose(np.linalg.norm(embedded.x, axis=1), 1.0, atol=1e-5)
    weights, bias = fit_head(embedded.x, embedded.y)
    assert weights.shape == (2, encoder.dim)  # two classes: both rows, for the softmax
    assert ((embedded.x @ weights.T + bias).argmax(axis=1) == embedded.y).all()


def test_a_photo_replaced_keeping_its_size_and_time_is_embedded_again(tmp_path: Path) -> None:
    """The cache is keyed by a photo's bytes: another photo copied over it with `cp -p` (same size, same time) is
    embedded, not answered with the old photo's vector."""
    import os

    encoder = FrozenEncoder(make_bundle(tmp_path / "models", "v1", seed=3))
    folder = labelled_folder(tmp_path / "photos", classes={"dark": (30, 30, 30), "light": (220, 220, 220)})
    dark = folder / "dark" / "0.png"
    swatch((30, 30, 30), seed=0).save(
        dark, compress_level=0
    )  # stored, not deflated: size set by the pixels alone
    first = embed_items(encoder, labelled_photos(folder), cache=tmp_path / "cache")
    stat = dark.stat()
    swatch((220, 220, 220), seed=1).save(dark, compress_level=0)
    os.utime(dark, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (dark.stat().st_size, dark.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    again = embed_items(encoder, labelled_photos(folder), cache=tmp_path / "cache")
    assert again.cached == len(first.y) - 1
    row = [p for p, _ in labelled_photos(folder)].index(dark)
    assert not np.allclose(again.x[row], first.x[row])


def test_a_checkpoint_not_imported_yet_is_named_as_such(checkpoints: dict, tmp_path: Path) -> None:
    """A Hugging Face folder as --backbone says to import it first (it said: KeyError: 'preprocess')."""
    folder = labelled_folder(tmp_path / "photos")
    result = runner.invoke(cli, ["train", "--backbone", str(checkpoints["clip"]), "--folder", str(folder)])
    assert result.exit_code == 2 and "shoplens backbone import" in result.output, result.output


def test_few_shot_needs_a_folder(bundles: dict, tmp_path: Path) -> None:
    """--backbone without --folder is a usage error, not a crash."""
    result = runner.invoke(cli, ["train", "--backbone", str(bundles["clip"]), "--models-dir", str(tmp_path)])
    assert result.exit_code == 2 and "needs --folder" in result.output


@pytest.mark.parametrize("layout", ["empty", "one class"])
def test_a_folder_without_two_categories_is_refused(bundles: dict, tmp_path: Path, layout: str) -> None:
    """Fewer than two category sub-folders: a clear error."""
    root = tmp_path / "photos"
    root.mkdir()
    if layout == "one class":
        labelled_folder(root / "x", classes={"red": COLOURS["red"]})
        root = root / "x"
    result = runner.invoke(cli, ["train", "--backbone", str(bundles["clip"]), "--folder", str(root)])
    assert result.exit_code != 0 and "at least two category" in result.output


def test_a_head_is_refused_with_an_encoder_that_changed_since(tmp_path: Path) -> None:
    """A few-shot head fits one encoder's embeddings: its encoder trained or imported again is no longer it."""
    from shoplens.errors import BundleError
    from shoplens.training.fewshot import train_few_shot

    encoder = make_bundle(tmp_path / "models", "v1", seed=3)
    folder = labelled_folder(tmp_path / "photos", classes={"dark": (30, 30, 30), "light": (220, 220, 220)})
    head, _ = train_few_shot(encoder, folder, tmp_path / "models" / "custom" / "fs1")
    model_loader()(head)  # loads while the encoder is the one it was fitted on
    other = make_bundle(tmp_path / "other", "v1", seed=4)
    for name in ("model.safetensors", "config.json"):  # trained again in place: new weights and their record
        (encoder / name).write_bytes((other / name).read_bytes())
    with pytest.raises(BundleError, match="changed since the head was fitted"):
        model_loader()(head)
