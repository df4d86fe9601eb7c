"""The photo benchmark's chart: top-1 per condition, the not-a-product ROC, and a contact sheet of renders."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from shoplens.data.shop_photos import PALETTE
from shoplens.evaluation.photo_summary import Record

SHEET_COLUMNS = 12
RIGHT, WRONG = "#1A7F37", "#C62828"


def _bars(
    ax: Axes,
    breakdown: dict[str, dict[str, Any]],
    title: str,
    overall: float | None,
    colours: list[str] | None = None,
) -> None:
    """Vertical bars of top-1 (%) per value, each labelled with its number of photos."""
    names = list(breakdown)
    values = [100 * (breakdown[n]["top1"] or 0) for n in names]
    ax.bar(range(len(names)), values, color=colours or "#4C72B0", edgecolor="#333333", linewidth=0.5)
    for i, name in enumerate(names):
        ax.text(
            i,
            values[i] + 1.5,
            f"{values[i]:.0f}\nn={breakdown[name]['n']}",
            ha="center",
            va="bottom",
            fontsize=6,
        )
    if overall is not None:
        ax.axhline(100 * overall, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
    ax.set_ylim(0, 118)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def _roc(ax: Axes, result: dict[str, Any]) -> None:
    """The ROC curve of the not-a-product score, with the operating point of the model's own flag."""
    roc = result.get("roc")
    if roc:
        ax.plot(roc["fpr"], roc["tpr"], color="#4C72B0", label=f"AUROC {result['ood_auroc']:.3f}")
    if result.get("ood_flagged") is not None:
        ax.scatter(
            [result["ood_false_flag"]],
            [result["ood_flagged"]],
            color=WRONG,
            zorder=3,
            s=20,
            label="model's own flag",
        )
    ax.plot([0, 1], [0, 1], color="#BBBBBB", linewidth=0.8)
    ax.set_xlabel("shop photos flagged (FPR)", fontsize=8)
    ax.set_ylabel("non-products flagged (TPR)", fontsize=8)
    ax.set_title(f"not a product: score = {' / '.join(result.get('ood_score_source', []))}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(labelsize=7)


def _flagged_by_kind(ax: Axes, result: dict[str, Any]) -> None:
    """Share of each kind of non-product that the model flags, next to the shop photos' false flags."""
    kinds = result.get("non_product", {})
    names = [*kinds, "shop photos"]
    values = [100 * (kinds[k]["flagged"] or 0) for k in kinds] + [100 * (result.get("ood_false_flag") or 0)]
    colours = ["#DD8452"] * len(kinds) + ["#4C72B0"]
    ax.bar(range(len(names)), values, color=colours, edgecolor="#333333", linewidth=0.5)
    for i, v in enumerate(values):
        ax.text(i, v + 1.5, f"{v:.0f}", ha="center", fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
    ax.set_ylim(0, 110)
    ax.set_title("flagged by the model's own rule (%)", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def _caption(record: Record) -> tuple[str, str]:
    """Three short lines under a thumbnail, and their colour: right/wrong, or flagged/missed for non-products."""
    said = f"→ {record['predicted']} {record['probability']:.2f}"
    if record["set"] == "non_product":
        verdict = "flagged" if record["flagged"] else "not flagged"
        source = record["source"].split("/")[-1]
        return f"{record['kind']}: {source}\n{said}\n{verdict}", RIGHT if record["flagged"] else WRONG
    where = record.get("background") or record.get("variant", "")
    condition = f"{record['colour']} on {where}" if record.get("colour") else where
    return f"{record['label_name']}\n{condition}\n{said}", RIGHT if record["correct"] else WRONG


def _contact_sheet(ax: Axes, thumbs: list[tuple[Image.Image, Record]], side: int) -> None:
    """Thumbnails in a grid, each captioned with the truth and the model's answer."""
    rows = max(1, -(-len(thumbs) // SHEET_COLUMNS))
    cell_h = side + 72  # room for three lines of caption
    sheet = Image.new("RGB", (SHEET_COLUMNS * side, rows * cell_h), (255, 255, 255))
    for i, (img, _record) in enumerate(thumbs):
        x, y = (i % SHEET_COLUMNS) * side, (i // SHEET_COLUMNS) * cell_h
        left, top = x + (side - img.width) // 2, y + (side - img.height) // 2
        sheet.paste(img, (left, top))
        ImageDraw.Draw(sheet).rectangle(
            (left - 1, top - 1, left + img.width, top + img.height), outline=(170, 170, 170)
        )
    ax.imshow(np.asarray(sheet))
    for i, (_img, record) in enumerate(thumbs):
        text, colour = _caption(record)
        x, y = (i % SHEET_COLUMNS) * side + side / 2, (i // SHEET_COLUMNS) * cell_h + side + 2
        ax.text(x, y, text, ha="center", va="top", fontsize=6, color=colour)
    ax.set_axis_off()
    ax.set_title("sample photos (green: right / flagged, red: wrong / missed)", fontsize=9)


def plot_photo_benchmark(
    result: dict[str, Any], thumbs: list[tuple[Image.Image, Record]], path: str | os.PathLike, side: int = 160
) -> None:
    """Write the benchmark chart as a PNG."""
    cond, overall = result["per_condition"], result.get("shop_photo_top1")
    fig = Figure(figsize=(18, 19.5))
    grid = fig.add_gridspec(4, 4, height_ratios=[1, 1, 1, 1.6], hspace=0.55, wspace=0.25, top=0.94)
    colours = [PALETTE.get(name, "#4C72B0") for name in cond.get("colour", {})]
    _bars(
        fig.add_subplot(grid[0, :2]),
        cond.get("colour", {}),
        "shop-photo top-1 (%) by garment colour",
        overall,
        colours,
    )
    _bars(fig.add_subplot(grid[0, 2]), cond.get("backdrop", {}), "by background", overall)
    _bars(fig.add_subplot(grid[0, 3]), cond.get("pairing", {}), "by garment/background contrast", overall)
    for col, name in enumerate(("scale", "canvas", "jpeg", "exif")):
        _bars(fig.add_subplot(grid[1, col]), cond.get(name, {}), f"by {name}", overall)
    _roc(fig.add_subplot(grid[2, 0]), result)
    _flagged_by_kind(fig.add_subplot(grid[2, 1]), result)
    _bars(
        fig.add_subplot(grid[2, 2]),
        result.get("light_on_dark", {}),
        "light-on-dark top-1 (%)",
        result.get("light_on_dark_top1"),
    )
    _bars(fig.add_subplot(grid[2, 3]), cond.get("class", {}), "shop-photo top-1 (%) by class", overall)
    _contact_sheet(fig.add_subplot(grid[3, :]), thumbs, side)
    model = result.get("model", {})
    fig.suptitle(_headline(result, model), fontsize=12, y=0.985)
    fig.savefig(path, dpi=90, bbox_inches="tight", format="png")


def _headline(result: dict[str, Any], model: dict[str, Any]) -> str:
    """The title: model and the headline numbers."""

    def pct(key: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else f"{100 * value:.1f} %"

    auroc = result.get("ood_auroc")
    return (
        f"Photo benchmark — {model.get('name', '?')} {model.get('version', '?')}: "
        f"Fashion-MNIST {pct('fashion_mnist_top1')} · shop photos {pct('shop_photo_top1')} · "
        f"light-on-dark {pct('light_on_dark_top1')} · flagged for review {pct('shop_needs_review')}\n"
        f"not a product: flagged {pct('ood_flagged')}, shop photos falsely flagged {pct('ood_false_flag')}, "
        f"AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}, FPR at 95 % TPR {pct('ood_fpr_at_95_tpr')}"
    )
