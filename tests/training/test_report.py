"""Report folder: real PNG files, a round-tripping metrics.json and a report.md that links them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoplens.inference.predictor import softmax
from shoplens.training.metrics import choose_review_threshold, classification_metrics, review_stats
from shoplens.training.report import (
    _most_confident_mistakes,
    plot_confusion_matrix,
    plot_misclassified,
    plot_reliability,
    plot_training_curves,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Ankle boot"]


def _assert_png(path: Path, min_side: int = 200) -> tuple[int, int]:
    """The file is a PNG that Pillow decodes to a non-trivial, non-blank image."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path, formats=["PNG"]) as image:
        image.load()
        assert min(image.size) >= min_side
        extrema = image.convert("L").getextrema()
        assert extrema[0] < extrema[1], "image is a single flat colour"
        return image.size


@pytest.fixture(scope="module")
def run() -> dict:
    """A small synthetic evaluation: 4 classes, 80 samples, grey 12x12 images, 3 epochs of history."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, len(CLASSES), size=80)
    probs = softmax(rng.normal(size=(80, len(CLASSES))) + 2.5 * np.eye(len(CLASSES))[y])
    images = rng.integers(0, 256, size=(80, 1, 12, 12), dtype=np.uint8)
    history = [
        {"epoch": 1, "train_loss": 1.2, "train_acc": 0.55, "val_loss": 1.0, "val_acc": 0.6, "lr": 0.1},
        {"epoch": 2, "train_loss": 0.8, "train_acc": 0.7, "val_loss": None, "val_acc": 0.72, "lr": 0.05},
        {"epoch": 3, "train_loss": 0.6, "train_acc": 0.8, "val_loss": 0.7},
    ]
    return {"y": y, "probs": probs, "images": images, "history": history}


def test_write_report_writes_every_file(run: dict, tmp_path: Path) -> None:
    metrics = classification_metrics(run["y"], run["probs"], CLASSES)
    threshold = choose_review_threshold(run["probs"], run["y"], 0.95)
    metrics["review"] = review_stats(run["probs"], run["y"], threshold)
    extra = {"preset": "fast", "seed": np.int64(7), "temperature": 1.234567}
    out = tmp_path / "nested" / "report"

    report = write_report(
        out,
        title="Seed CNN on synthetic data",
        metrics=metrics,
        class_names=CLASSES,
        y_true=run["y"],
        probs=run["probs"],
        images=run["images"],
        history=run["history"],
        extra=extra,
    )

    assert report == out / "report.md"
    pngs = ["training_curves.png", "confusion_matrix.png", "reliability.png", "misclassified.png"]
    for name in pngs:
        _assert_png(out / name)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(metrics["accuracy"])
    assert saved["confusion_matrix"] == metrics["confusion_matrix"]
    assert saved["extra"] == {"preset": "fast", "seed": 7, "temperature": 1.234567}
    assert saved["review"]["threshold"] == pytest.approx(threshold)

    text = report.read_text()
    assert text.startswith("# Seed CNN on synthetic data")
    for name in CLASSES:
        assert f"| {name} |" in text
    for name in pngs:
        assert f"]({name})" in text
    assert f"{100 * metrics['accuracy']:.2f}%" in text
    assert f"{metrics['macro_f1']:.4f}" in text
    assert "share of errors caught" in text
    assert "| preset | fast |" in text and "| temperature | 1.2346 |" in text


def test_write_report_without_history_or_extra(run: dict, tmp_path: Path) -> None:
    report = write_report(
        tmp_path,
        title="No history",
        metrics={},
        class_names=CLASSES,
        y_true=run["y"],
        probs=run["probs"],
        images=run["images"],
    )
    assert not (tmp_path / "training_curves.png").exists()
    assert "training_curves.png" not in report.read_text()
    assert "Human review" not in report.read_text()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert "extra" not in saved
    # Metrics the caller left out are computed from the predictions.
    assert saved["accuracy"] == pytest.approx(np.mean(run["probs"].argmax(axis=1) == run["y"]))
    assert (tmp_path / "metrics.json").read_text() == json.dumps(saved, indent=2, sort_keys=True) + "\n"


def test_training_curves_skip_missing_values(tmp_path: Path) -> None:
    history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5, "train_acc": None}]
    _assert_png(plot_training_curves(history, tmp_path / "curves.png"))
    _assert_png(plot_training_curves([], tmp_path / "empty.png"), min_side=150)
    _assert_png(plot_training_curves([{"lr": 0.1}, {"lr": 0.01}], tmp_path / "lr_only.png"))


def test_confusion_matrix_ten_classes_and_empty_rows(tmp_path: Path) -> None:
    names = [f"class {i}" for i in range(10)]
    cm = np.diag(np.arange(10) * 5).tolist()  # first row has no samples
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        width, height = _assert_png(plot_confusion_matrix(cm, names, tmp_path / "cm.png"))
        _assert_png(plot_confusion_matrix(cm, names, tmp_path / "raw.png", normalize=False))
    assert width >= 800 and height >= 700  # room for 100 annotated cells
    with pytest.raises(ValueError):
        plot_confusion_matrix([[1, 2], [3, 4]], names, tmp_path / "bad.png")


def test_reliability_plot(run: dict, tmp_path: Path) -> None:
    _assert_png(plot_reliability(run["probs"], run["y"], tmp_path / "rel.png", n_bins=10))


def test_misclassified_picks_most_confident_mistakes() -> None:
    y_true = np.array([0, 1, 2, 0, 1])
    y_pred = np.array([1, 1, 0, 2, 0])  # wrong at 0, 2, 3, 4
    confidence = np.array([0.6, 0.99, 0.9, 0.7, 0.95])
    assert _most_confident_mistakes(y_true, y_pred, confidence, 3).tolist() == [4, 2, 3]
    assert _most_confident_mistakes(y_true, y_true, confidence, 3).size == 0


def test_misclassified_colour_and_no_mistakes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(5, 3, 16, 16), dtype=np.uint8)
    y_true, y_pred = np.array([0, 1, 2, 3, 0]), np.array([1, 1, 2, 0, 0])
    conf = np.full(5, 0.8)
    _assert_png(plot_misclassified(rgb, y_true, y_pred, conf, CLASSES, tmp_path / "rgb.png"), min_side=150)
    none = plot_misclassified(rgb, y_true, y_true, conf, CLASSES, tmp_path / "none.png")
    _assert_png(none, min_side=150)
    with pytest.raises(ValueError, match="channels"):
        plot_misclassified(rgb[:, :2], y_true, y_pred, conf, CLASSES, tmp_path / "bad.png")
