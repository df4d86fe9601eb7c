"""The `shoplens` CLI through Typer's runner: train → evaluate → predict, and its error paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.data import fashion_mnist as fm
from shoplens.models import load_bundle
from tests.support.bundles import PHOTO_PRE, add_detector, make_bundle
from tests.support.images import checkerboard, encode

pytestmark = pytest.mark.slow

runner = CliRunner()
FAST = [
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--no-progress",
    "--no-verify",
    "--no-tta-flip",
]


def product_photo(size=(120, 90)) -> Image.Image:
    """A dark 'product' on a white background, like a shop photo."""
    img = Image.new("RGB", size, (255, 255, 255))
    img.paste((30, 60, 120), (size[0] // 4, size[1] // 5, 3 * size[0] // 4, 4 * size[1] // 5))
    return img


def write_photos(folder: Path) -> list[Path]:
    """The same photo as JPEG, PNG, WebP, AVIF, HEIC, RGBA, grey, CMYK, palette and EXIF-rotated JPEG and PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    base = product_photo()
    paths = []
    for name, img, fmt in [
        ("a.jpg", base, "JPEG"),
        ("b.png", base, "PNG"),
        ("c.webp", base, "WEBP"),
        ("c2.avif", base, "AVIF"),
        ("c3.heic", base, "HEIF"),
        ("d_rgba.png", base.convert("RGBA"), "PNG"),
        ("e_gray.png", base.convert("L"), "PNG"),
        ("f_cmyk.jpg", base.convert("CMYK"), "JPEG"),
        ("g_palette.png", base.convert("P"), "PNG"),
    ]:
        (folder / name).write_bytes(encode(img, fmt))
        paths.append(folder / name)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    base.transpose(Image.Transpose.ROTATE_90).save(folder / "h_exif.jpg", "JPEG", exif=exif)
    base.transpose(Image.Transpose.ROTATE_90).save(folder / "i_exif.png", "PNG", exif=exif)
    paths += [folder / "h_exif.jpg", folder / "i_exif.png"]
    return paths


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle trained for two epochs on tiny synthetic IDX files, through the CLI."""
    from tests.support.data import write_fashion_mnist_like

    root = tmp_path_factory.mktemp("cli")
    data = write_fashion_mnist_like(root / "data")
    out = root / "models" / "fmnist" / "v1"
    result = runner.invoke(
        app, ["train", "--preset", "fast", "--data-dir", str(data), "--output", str(out), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "report:" in result.output
    assert "not active yet" in result.output and not (out.parent / "ACTIVE").exists()
    # Two epochs on 200 synthetic images may stay near chance: serving it is a forced activation.
    activated = runner.invoke(
        app,
        ["models", "activate", "v1", "--force", "--models-dir", str(out.parent.parent), "--name", "fmnist"],
    )
    assert activated.exit_code == 0 and (out.parent / "ACTIVE").read_text().strip() == "v1", activated.output
    return out


def test_train_writes_a_complete_loadable_bundle(bundle):
    for name in ("config.json", "model.safetensors", "metrics.json", "README.md", "checkpoints/last.pt"):
        assert (bundle / name).is_file(), name
    for name in (
        "metrics.json",
        "report.md",
        "training_curves.png",
        "confusion_matrix.png",
        "reliability.png",
        "misclassified.png",
    ):
        assert (bundle / "report" / name).is_file(), name
    config = json.loads((bundle / "config.json").read_text())
    for key in (
        "architecture",
        "labels",
        "input",
        "preprocess",
        "train_config",
        "data",
        "review_threshold",
        "temperature",
    ):
        assert key in config
    assert len(config["data"]["checksum"]) == 64
    b = load_bundle(bundle)
    # Learning is checked on real data (tests/training/test_real_data.py): two epochs of photo-domain training
    # on 200 synthetic images may stay at chance, so here the evaluation is checked to be of the test split.
    assert b.labels == fm.CLASS_NAMES and b.metrics["num_samples"] == 60
    matrix = np.array(b.metrics["confusion_matrix"])
    assert matrix.sum() == 60 and b.metrics["accuracy"] == pytest.approx(np.trace(matrix) / 60)
    assert "Intended use" in (bundle / "README.md").read_text()


def test_evaluate_writes_report(bundle, tmp_path):
    data = Path(json.loads((bundle / "config.json").read_text())["data"]["source"].split(":", 2)[2])
    trained = json.loads((bundle / "metrics.json").read_text())  # evaluate rewrites it
    result = runner.invoke(
        app,
        ["evaluate", str(bundle), "--data-dir", str(data), "--no-verify", "--report", str(tmp_path / "r")],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    confusion = np.array(metrics["confusion_matrix"])
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"])  # the same model on the same test split


def test_predict_every_kind_of_photo_and_report_bad_ones(bundle, tmp_path):
    paths = write_photos(tmp_path / "photos")
    broken = tmp_path / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    pdf = tmp_path / "photos" / "sheet.png"
    pdf.write_bytes(b"%PDF-1.4 not an image")
    result = runner.invoke(app, ["predict", str(bundle), *map(str, paths), str(broken), str(pdf), "--json"])
    assert result.exit_code == 1  # some files failed
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(r["file"]).name for r in rows] == [p.name for p in paths] + ["broken.jpg", "sheet.png"]
    ok = [r for r in rows if "top" in r]
    assert len(ok) == len(paths)
    for r in ok:
        top = [t["probability"] for t in r["top"]]
        assert len(top) == 3 and top == sorted(top, reverse=True)
        assert 0.3 - 1e-6 <= sum(top) <= 1 + 1e-6  # the three largest of ten probabilities that sum to 1
    # lossless encodings of the same photo, whatever the mode or EXIF orientation, give the same answer
    by_name = {Path(r["file"]).name: r["top"] for r in ok}
    assert by_name["b.png"] == by_name["d_rgba.png"] == by_name["e_gray.png"] == by_name["i_exif.png"]
    assert "error" in rows[-2] and "accepted formats" in rows[-1]["error"]


def test_predict_plain_output_one_line_per_file(bundle, tmp_path):
    paths = write_photos(tmp_path / "p")[:2]
    result = runner.invoke(app, ["predict", str(bundle), *map(str, paths)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.count("\t") >= 3 for line in lines)


def test_predict_and_classify_batch_run_on_the_runtime_asked_for(bundle, tmp_path, monkeypatch):
    """--runtime (or SHOPLENS_RUNTIME) reaches the offline commands as it reaches serve (both ignored it: auto
    could answer with an int8 model, and nothing could pin FP32)."""
    paths = write_photos(tmp_path / "p")[:1]
    int8 = runner.invoke(app, ["predict", str(bundle), *map(str, paths), "--runtime", "onnxruntime-int8"])
    assert int8.exit_code == 2 and "has no model.int8.onnx" in int8.output, int8.output
    monkeypatch.setenv("SHOPLENS_RUNTIME", "onnxruntime-int8")
    models = [
        "--models-dir",
        str(bundle.parent.parent),
        "--name",
        bundle.parent.name,
        "--version",
        bundle.name,
    ]
    batch = runner.invoke(
        app, ["classify-batch", str(tmp_path / "p"), "--out", str(tmp_path / "o.parquet"), *models]
    )
    assert batch.exit_code == 2 and "has no model.int8.onnx" in batch.output, batch.output
    monkeypatch.setenv("SHOPLENS_RUNTIME", "torch")
    assert runner.invoke(app, ["predict", str(bundle), *map(str, paths)]).exit_code == 0


def test_predict_says_what_classify_says_of_a_picture_of_no_product(tmp_path):
    bundle = make_bundle(tmp_path / "models", "v1", seed=3, preprocess=PHOTO_PRE)
    add_detector(bundle)  # flags the checkerboard
    (tmp_path / "coat.png").write_bytes(encode(product_photo()))
    (tmp_path / "board.png").write_bytes(encode(checkerboard()))
    files = [str(tmp_path / "coat.png"), str(tmp_path / "board.png")]
    result = runner.invoke(app, ["predict", str(bundle), *files, "--json"])
    assert result.exit_code == 0, result.output
    coat, board = (json.loads(line) for line in result.stdout.splitlines())
    assert board["status"] == "not_recognised" and board["ood_score"] > 0.5 and board["needs_review"]
    assert coat["status"] != "not_recognised" and coat["ood_score"] < 0.5
    plain = runner.invoke(app, ["predict", str(bundle), *files]).stdout.splitlines()
    assert plain[1].endswith("\tnot a product") and not plain[0].endswith("\tnot a product")


def test_missing_data_explains_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "none")
    result = runner.invoke(app, ["data", "info"])
    assert result.exit_code == 2
    assert "apt-get install -y dataset-fashion-mnist" in result.output


def test_corrupt_idx_names_the_file(fmnist_dir):
    (fmnist_dir / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x00\x00\x08\x03garbage")
    result = runner.invoke(app, ["data", "info", "--data-dir", str(fmnist_dir)])
    assert result.exit_code == 2
    assert "t10k-images-idx3-ubyte.gz" in result.output


def test_data_info_shows_files(fmnist_dir):
    result = runner.invoke(app, ["data", "info", "--data-dir", str(fmnist_dir)])
    assert result.exit_code == 0, result.output
    assert "train-images-idx3-ubyte.gz" in result.output and "Ankle boot" in result.output


def test_bad_options_are_usage_errors(fmnist_dir):
    for args in (
        ["train", "--preset", "turbo"],
        ["train", "--epochs", "0"],
        ["predict"],
        ["train", "--optimizer", "lion"],
        ["train", "--model", "nope"],  # before any data is read
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
    result = runner.invoke(
        app, ["train", "--resume", "/nonexistent.pt", "--data-dir", str(fmnist_dir), "--no-verify"]
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def test_training_never_writes_over_a_bundle(bundle, tmp_path):
    import shutil

    before = (bundle / "config.json").read_bytes()
    for target, reason in (
        (bundle, "is the active version"),
        (tmp_path / "copy", "already holds a model bundle"),
    ):
        if target != bundle:
            shutil.copytree(bundle, target)
        result = runner.invoke(app, ["train", "--folder", str(tmp_path), "--output", str(target), *FAST])
        said = " ".join(result.output.replace("│", " ").split())  # the message as one line, out of its box
        assert result.exit_code == 2 and reason in said, result.output
    assert (bundle / "config.json").read_bytes() == before


def test_a_folder_of_one_category_is_no_training_set(tmp_path):
    (tmp_path / "shop" / "bags").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (40, 40), (i, 80, 200)).save(tmp_path / "shop" / "bags" / f"{i}.png")
    result = runner.invoke(
        app, ["train", "--folder", str(tmp_path / "shop"), "--output", str(tmp_path / "m"), *FAST]
    )
    assert result.exit_code != 0 and "at least two categories" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "m" / "config.json").exists()


def test_one_photo_a_category_is_refused_before_training(tmp_path):
    for i, label in enumerate(("bags", "shoes")):
        (tmp_path / "shop" / label).mkdir(parents=True)
        Image.new("RGB", (40, 40), (i * 200, 80, 200)).save(tmp_path / "shop" / label / "only.png")
    result = runner.invoke(
        app, ["train", "--folder", str(tmp_path / "shop"), "--output", str(tmp_path / "m"), *FAST]
    )
    said = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "too few photos to hold any out as the test set (2 in all)" in said, said
    assert not (tmp_path / "m").exists()  # no half-written bundle


def test_not_a_bundle_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path), str(tmp_path / "x.jpg")])
    assert result.exit_code == 2 and "not a model bundle" in result.output


def write_shop(root: Path, n: int, seed: int = 0) -> None:
    """n photos each of red shoes and blue bags (a box on white, noisy, each of its own size and place: no two are
    copies of one photo), PNG and JPEG alternately."""
    rng = np.random.default_rng(seed)
    for label, colour in (("shoes", (200, 30, 30)), ("bags", (30, 30, 200))):
        d = root / label
        d.mkdir(parents=True)
        for i in range(n):
            img = Image.new("RGB", (40 + i, 50), (255, 255, 255))
            x, y = (int(v) for v in rng.integers(2, 12, 2))
            img.paste(colour, (x, y, x + int(rng.integers(12, 28)), y + int(rng.integers(15, 36))))
            arr = np.clip(np.asarray(img, np.int16) + rng.integers(-10, 10, (50, 40 + i, 3)), 0, 255).astype(
                np.uint8
            )
            Image.fromarray(arr).save(d / f"{i}.{'png' if i % 2 else 'jpg'}")


def test_folder_dataset_trains_end_to_end(tmp_path, monkeypatch):
    write_shop(tmp_path / "shop", 12)
    (tmp_path / "shop" / "bags" / "notes.jpg").write_text("not a photo")  # left out, with a warning
    out = tmp_path / "m" / "shop" / "v1"
    args = [
        "train",
        "--folder",
        str(tmp_path / "shop"),
        "--mode",
        "RGB",
        "--image-size",
        "32",
        "--output",
        str(out),
    ]
    result = runner.invoke(app, [*args, *FAST, "--val-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    assert "class 'bags' has only" in result.output and "fewer than 20" in result.output  # 12 photos a class
    assert (
        "1 photo(s) could not be read and were left out (first: " in result.output
        and "notes.jpg" in result.output
    )
    assert "not active yet" in result.output and not (out.parent / "ACTIVE").exists()
    b = load_bundle(out)
    assert b.review_threshold == 0.6 and b.review_thresholds == {
        "bags": 0.6,
        "shoes": 0.6,
    }  # 4 validation images
    assert b.labels == ["bags", "shoes"] and b.preprocess.in_chans == 3 and b.preprocess.size == (32, 32)
    assert b.config["data"]["path"] == str((tmp_path / "shop").resolve())  # found again from any folder

    trained = json.loads((out / "metrics.json").read_text())
    monkeypatch.chdir(tmp_path / "shop")  # evaluate runs elsewhere than training did
    own = runner.invoke(app, ["evaluate", str(out)])  # nothing named: the bundle's own test split
    assert own.exit_code == 0, own.output
    assert "own test split (4 images)" in own.output
    again = json.loads((out / "metrics.json").read_text())
    assert again["accuracy"] == trained["accuracy"] and again["extra"] == trained["extra"]  # training's kept
    write_shop(tmp_path / "holdout", 5, seed=1)
    held = runner.invoke(app, ["evaluate", str(out), "--folder", str(tmp_path / "holdout")])
    assert held.exit_code == 0, held.output
    assert "every one of its 10 images" in held.output  # the whole folder, not a split of it
    assert json.loads((out / "report-holdout" / "metrics.json").read_text())["num_samples"] == 10
    assert json.loads((out / "metrics.json").read_text()) == again  # a hold-out set leaves the bundle's own
    shutil.rmtree(tmp_path / "holdout" / "bags")  # a hold-out set of some of its categories: matched by name
    held = runner.invoke(app, ["evaluate", str(out), "--folder", str(tmp_path / "holdout")])
    assert held.exit_code == 0 and "every one of its 5 images" in held.output, held.output
    (tmp_path / "holdout" / "hats").mkdir()
    shutil.copy(next((tmp_path / "holdout" / "shoes").iterdir()), tmp_path / "holdout" / "hats" / "h.png")
    unknown = runner.invoke(app, ["evaluate", str(out), "--folder", str(tmp_path / "holdout")])
    assert unknown.exit_code != 0 and "categories the model does not know: 'hats'" in unknown.output


def test_an_interrupted_training_says_how_to_resume_it(tmp_path, monkeypatch):
    import shoplens.training.pipeline as pipeline

    def stopped_after_an_epoch(cfg, source, output, **_):
        (output / "checkpoints").mkdir(parents=True)
        (output / "checkpoints" / "last.pt").write_bytes(b"epoch 1")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_training", stopped_after_an_epoch)
    write_shop(tmp_path / "shop", 3)
    out = tmp_path / "m" / "v1"
    result = runner.invoke(app, ["train", "--folder", str(tmp_path / "shop"), "--output", str(out), *FAST])
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and f"--resume {out / 'checkpoints' / 'last.pt'}" in said, said
