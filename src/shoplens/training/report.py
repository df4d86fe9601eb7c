"""Evaluation reports: PNG figures, metrics.json and a report.md a person can skim."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from shoplens.training.metrics import (
    MIN_INTERVAL_SAMPLES,
    classification_metrics,
    describe_estimate,
    expected_calibration_error,
    reliability_bins,
)

_DPI = 110
_REVIEW_KEYS = ("threshold", "flagged_share", "errors_caught_share", "accepted_accuracy")


def _save(fig: Figure, path: str | Path) -> Path:
    """Write fig as a PNG at path (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, format="png")
    return path


def _message_figure(text: str, path: str | Path) -> Path:
    """A small figure that only says text, for plots with nothing to show."""
    fig = Figure(figsize=(5, 2.5), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13)
    return _save(fig, path)


def _series(history: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) for the rows of history where key holds a finite number."""
    xs, ys = [], []
    for i, row in enumerate(history):
        value = row.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        epoch = row.get("epoch")
        xs.append(float(epoch) if epoch is not None else float(i + 1))
        ys.append(float(value))
    return xs, ys


def _plot_pair(ax: Axes, history: Sequence[dict], stem: str, ylabel: str) -> None:
    """Train and validation curves of one quantity on ax, or a note when neither was logged."""
    drawn = False
    for split, style in (("train", "-"), ("val", "--")):
        xs, ys = _series(history, f"{split}_{stem}")
        if xs:
            label = "train" if split == "train" else "validation"
            ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
            drawn = True
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, f"no {ylabel} logged", ha="center", va="center", transform=ax.transAxes)


def plot_training_curves(history: Sequence[dict], path: str | Path, kept: int | None = None) -> Path:
    """Loss and accuracy per epoch for train and validation (learning rate on a side axis); `kept`: the epoch whose
    weights the bundle holds, marked when it is not the best one."""
    if not history:
        return _message_figure("no training history", path)
    fig = Figure(figsize=(11, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    _plot_pair(loss_ax, history, "loss", "loss")
    _plot_pair(acc_ax, history, "acc", "accuracy")
    loss_ax.set_title("Loss")
    acc_ax.set_title("Accuracy")
    xs, ys = _series(history, "val_acc")
    if xs:
        best = int(np.argmax(ys))
        acc_ax.annotate(
            f"best {ys[best]:.3f}",
            (xs[best], ys[best]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
        )
        if kept is not None and kept in xs and xs.index(kept) != best:
            at = xs.index(kept)
            acc_ax.annotate(
                f"bundle: epoch {kept}, {ys[at]:.3f}",
                (xs[at], ys[at]),
                textcoords="offset points",
                xytext=(0, 10),
                ha="center",
                fontsize=8,
            )
    lr_x, lr_y = _series(history, "lr")
    if lr_x:
        lr_ax = loss_ax.twinx()
        lr_ax.plot(lr_x, lr_y, color="gray", alpha=0.5, linewidth=1)
        lr_ax.set_ylabel("learning rate", color="gray")
        lr_ax.tick_params(axis="y", colors="gray", labelsize=8)
    return _save(fig, path)


def _row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; rows with no samples stay zero."""
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm, dtype=np.float64), where=totals > 0)


def plot_confusion_matrix(
    cm: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, normalize: bool = True
) -> Path:
    """Heatmap of true (rows) against predicted (columns) classes, each cell annotated."""
    counts = np.asarray(cm, dtype=np.float64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {k} class names")
    values = _row_normalised(counts) if normalize else counts
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    side = max(4.5, 0.75 * k + 2.5)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class" if normalize else "count")
    font = 9 if k <= 10 else max(5, 9 - (k - 10) // 3)
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            color = "white" if values[i, j] > 0.5 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=font, color=color)
    ax.set_xticks(range(k), labels=list(class_names), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(counts.sum())
    ax.set_title(f"Confusion matrix ({'row-normalised, ' if normalize else ''}{total} samples)")
    return _save(fig, path)


def plot_reliability(probs: np.ndarray, y_true: np.ndarray, path: str | Path, n_bins: int = 15) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, counts below, ECE in title."""
    bins = reliability_bins(probs, y_true, n_bins=n_bins)
    lower, upper = np.array(bins["bin_lower"]), np.array(bins["bin_upper"])
    count = np.array(bins["count"])
    centres, width = (lower + upper) / 2, upper - lower
    filled = count > 0
    acc = np.array([a if a is not None else 0.0 for a in bins["accuracy"]])
    conf = np.array([c if c is not None else 0.0 for c in bins["confidence"]])
    ece = expected_calibration_error(probs, y_true, n_bins=n_bins)

    fig = Figure(figsize=(5.5, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.bar(centres[filled], acc[filled], width=width[filled], edgecolor="black", alpha=0.8, label="accuracy")
    gap_low = np.minimum(acc, conf)[filled]
    top.bar(
        centres[filled],
        np.abs(conf - acc)[filled],
        bottom=gap_low,
        width=width[filled],
        fill=False,
        hatch="//",
        edgecolor="tab:red",
        linewidth=0.8,
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    said = f"ECE {ece:.4f}" if len(y_true) >= MIN_INTERVAL_SAMPLES else "ECE: n too small"
    top.set_title(f"Reliability ({said}, {n_bins} bins, {len(y_true)} samples)")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, count, width=width, color="gray", edgecolor="black")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (max probability)")
    bottom.set_ylabel("samples")
    return _save(fig, path)


def _most_confident_mistakes(
    y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray, max_images: int
) -> np.ndarray:
    """Indices of wrong predictions, most confident first, at most max_images of them."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    order = np.argsort(-np.asarray(confidence, dtype=np.float64)[wrong], kind="stable")
    return wrong[order][:max_images]


def _as_hwc(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) or (H, W) image as (H, W) for grey or (H, W, 3) for colour."""
    if image.ndim == 2:
        return image
    if image.shape[0] == 1:
        return image[0]
    if image.shape[0] == 3:
        return np.transpose(image, (1, 2, 0))
    raise ValueError(f"images must have 1 or 3 channels, got shape {image.shape}")


def plot_misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    max_images: int = 36,
) -> Path:
    """Grid of the most confident mistakes, each titled with its true and predicted class."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) != len(y_true):
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W) with N={len(y_true)}, got {images.shape}")
    chosen = _most_confident_mistakes(y_true, y_pred, confidence, max_images)
    if chosen.size == 0:
        return _message_figure("no misclassified images", path)
    cols = min(6, chosen.size)
    rows = math.ceil(chosen.size / cols)
    fig = Figure(figsize=(2.1 * cols, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, chosen):
        ax.imshow(_as_hwc(images[i]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        truth, guess = class_names[int(y_true[i])], class_names[int(y_pred[i])]
        ax.set_title(f"true: {truth}\npred: {guess} ({float(confidence[i]):.2f})", fontsize=8)
    wrong = int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))
    fig.suptitle(f"Most confident mistakes ({chosen.size} of {wrong})")
    return _save(fig, path)


def _json_default(value: Any) -> Any:
    """JSON encoding for numpy values and paths found in metrics or extra."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _cell(value: Any) -> str:
    """A value as text fit for a Markdown table cell."""
    if value is None:
        return "—"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4f}"
    if isinstance(value, dict | list | tuple):
        value = json.dumps(value, default=_json_default)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _pct(value: Any) -> str:
    """A share as a percentage, or a dash when missing."""
    return "—" if value is None else f"{100 * float(value):.2f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _summary_lines(metrics: dict) -> list[str]:
    """Headline metrics table, with the human-review trade-off when metrics has one."""
    rows = [
        ("accuracy", _pct(metrics.get("accuracy"))),
        ("top-3 accuracy", _pct(metrics.get("top3_accuracy"))),
        ("macro precision", _cell(metrics.get("macro_precision"))),
        ("macro recall", _cell(metrics.get("macro_recall"))),
        ("macro F1", _cell(metrics.get("macro_f1"))),
        ("ECE (15 bins)", describe_estimate(metrics, "ece")),
        ("NLL", describe_estimate(metrics, "nll")),
        ("samples", _cell(metrics.get("num_samples"))),
    ]
    lines = ["## Summary", "", *_table(("metric", "value"), rows)]
    review = metrics.get("review")
    if isinstance(review, dict) and all(key in review for key in _REVIEW_KEYS):
        lines += [
            "",
            "## Human review",
            "",
            f"Predictions with confidence below {review['threshold']:.4f} go to a person.",
            "",
        ]
        lines += _table(
            ("review", "value"),
            [
                ("confidence threshold", f"{review['threshold']:.4f}"),
                ("share flagged for review", _pct(review["flagged_share"])),
                ("share of errors caught", _pct(review["errors_caught_share"])),
                ("accuracy of accepted predictions", _pct(review["accepted_accuracy"])),
            ],
        )
    return lines


def _per_class_lines(metrics: dict, class_names: Sequence[str]) -> list[str]:
    """Per-class table, then the weakest class and the most frequent confusions."""
    per_class = metrics.get("per_class", {})
    rows = []
    for name in class_names:
        m = per_class.get(name, {})
        rows.append(
            (
                _cell(name),
                _cell(m.get("precision")),
                _cell(m.get("recall")),
                _cell(m.get("f1")),
                _cell(m.get("support")),
            )
        )
    lines = ["## Per class", "", *_table(("class", "precision", "recall", "F1", "support"), rows)]
    scored = [(per_class[n]["f1"], n) for n in class_names if per_class.get(n, {}).get("f1") is not None]
    if scored:
        f1, name = min(scored)
        lines += ["", f"Weakest class: **{name}** (F1 {f1:.4f})."]
    cm = np.asarray(metrics.get("confusion_matrix", []), dtype=np.int64)
    if cm.shape == (len(class_names), len(class_names)):
        off = cm - np.diag(np.diag(cm))
        pairs = [divmod(int(i), len(class_names)) for i in np.argsort(-off, axis=None, kind="stable")[:3]]
        pairs = [(t, p) for t, p in pairs if off[t, p] > 0]
        if pairs:
            text = ", ".join(f"{class_names[t]} → {class_names[p]} ({off[t, p]})" for t, p in pairs)
            lines += ["", f"Most frequent confusions (true → predicted): {text}."]
    return lines


def _figure_lines(figures: Sequence[tuple[str, str]]) -> list[str]:
    """Markdown sections embedding each (caption, file name) with a relative link."""
    lines: list[str] = []
    for caption, name in figures:
        lines += ["", f"## {caption}", "", f"![{caption}]({name})"]
    return lines


def write_report(
    out_dir: str | Path,
    *,
    title: str,
    metrics: dict,
    class_names: Sequence[str],
    y_true: np.ndarray,
    probs: np.ndarray,
    images: np.ndarray | None,
    history: Sequence[dict] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write metrics.json, the figures and report.md into out_dir; return the path of report.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    # Metrics the caller did not pass are computed from y_true and probs, so the report is never blank.
    metrics = {**classification_metrics(y_true, probs, class_names), **metrics}
    payload = {**metrics, "extra": extra} if extra is not None else metrics
    (out_dir / "metrics.json").write_text(
        json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8"
    )

    figures = []
    if history:
        plot_training_curves(history, out_dir / "training_curves.png", (extra or {}).get("kept_epoch"))
        figures.append(("Training curves", "training_curves.png"))
    labels = metrics.get("labels") or list(class_names)  # the matrix's own row/column order
    plot_confusion_matrix(metrics["confusion_matrix"], labels, out_dir / "confusion_matrix.png")
    figures.append(("Confusion matrix", "confusion_matrix.png"))
    plot_reliability(probs, y_true, out_dir / "reliability.png")
    figures.append(("Calibration", "reliability.png"))
    if images is not None:
        y_pred, confidence = probs.argmax(axis=1), probs.max(axis=1)
        plot_misclassified(images, y_true, y_pred, confidence, class_names, out_dir / "misclassified.png")
        figures.append(("Most confident mistakes", "misclassified.png"))

    lines = [f"# {title}", "", *_summary_lines(metrics), "", *_per_class_lines(metrics, labels)]
    lines += _figure_lines(figures)
    if extra:
        lines += ["", "## Details", ""]
        lines += _table(("item", "value"), [(_cell(k), _cell(v)) for k, v in extra.items()])
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report
