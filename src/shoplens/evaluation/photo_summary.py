"""From per-photo answers to the numbers of the photo benchmark: top-1 per condition, flags, OOD separation."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

Record = dict[str, Any]


def lightness(hex_colour: str) -> float:
    """CIELAB L* (0..100) of a '#RRGGBB' colour."""
    rgb = np.array([int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = float(linear @ np.array([0.2126, 0.7152, 0.0722]))
    return 116 * np.cbrt(y) - 16 if y > 216 / 24389 else y * 24389 / 27


def _bin(value: float, edges: list[float], names: list[str]) -> str:
    """Name of the bin [edges[i], edges[i+1]) holding value (the last bin includes its upper edge)."""
    for name, upper in zip(names, edges[1:]):
        if value < upper:
            return name
    return names[-1]


def pairing(r: Record) -> str:
    """white_on_white, black_on_black, or the garment/background lightness contrast: low, medium, high."""
    if r["colour"] == "white" and r["background"] == "light":
        return "white_on_white"
    if r["colour"] == "black" and r["background"] == "dark":
        return "black_on_black"
    contrast = abs(lightness(r["colour_hex"]) - lightness(r["background_rgb"]))
    return _bin(contrast, [0, 20, 50, 101], ["contrast_low", "contrast_medium", "contrast_high"])


def offset(r: Record) -> str:
    """How far the garment box's centre is from the canvas centre, as a share of the canvas size."""
    left, top, right, bottom = r["box"]
    dx = ((left + right) / 2 - r["width"] / 2) / r["width"]
    dy = ((top + bottom) / 2 - r["height"] / 2) / r["height"]
    return _bin(float(np.hypot(dx, dy)), [0, 0.1, 0.25, 1], ["centred", "off_centre", "near_edge"])


def aspect(r: Record) -> str:
    """portrait, landscape or square."""
    return (
        "square" if r["width"] == r["height"] else ("portrait" if r["height"] > r["width"] else "landscape")
    )


CONDITIONS: dict[str, Callable[[Record], str]] = {
    "background": lambda r: r["background"],
    "texture": lambda r: r["texture"] or "none",
    "backdrop": lambda r: "light_blown_out" if r["blown_out"] else r["background"],
    "colour": lambda r: r["colour"],
    "pairing": pairing,
    "scale": lambda r: _bin(
        r["scale"], [0.4, 0.55, 0.7, 0.85, 0.96], ["0.40-0.55", "0.55-0.70", "0.70-0.85", "0.85-0.95"]
    ),
    "canvas": lambda r: _bin(
        max(r["width"], r["height"]),
        [200, 400, 800, 1400, 2001],
        ["200-399", "400-799", "800-1399", "1400-2000"],
    ),
    "aspect": aspect,
    "position": offset,
    "jpeg": lambda r: _bin(r["jpeg_quality"], [60, 70, 80, 90, 96], ["60-69", "70-79", "80-89", "90-95"]),
    "exif": lambda r: "upright" if r["exif_orientation"] == 1 else f"orientation_{r['exif_orientation']}",
    "tilt": lambda r: "tilted" if r["tilt"] else "straight",
    "shadow": lambda r: "shadow" if r["shadow_opacity"] else "none",
    "blur": lambda r: "blurred" if r["blur_sigma"] else "sharp",
    "noise": lambda r: _bin(
        r["noise_sigma"] * 255, [0, 1, 2, 4, 7], ["sigma<1", "sigma1-2", "sigma2-4", "sigma4-6"]
    ),
    "class": lambda r: r["label_name"],
}


def accuracy_by(records: list[Record], key: Callable[[Record], str]) -> dict[str, dict[str, Any]]:
    """Per value of key: photos, top-1 and share flagged, sorted by value name."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return {name: _scores(group) for name, group in sorted(groups.items())}


def _scores(group: list[Record]) -> dict[str, Any]:
    """n, top-1 and share flagged for review of a group of answers."""
    return {
        "n": len(group),
        "top1": _mean(r["correct"] for r in group),
        "needs_review": _mean(r["needs_review"] for r in group),
    }


def accepted_accuracy(records: list[Record]) -> float | None:
    """How often the answers that need no review are right (the review rule's promise); None if all need review."""
    return _mean(r["correct"] for r in records if not r["needs_review"])


def _mean(values: Iterable[bool | float]) -> float | None:
    """Mean of the values, None when there are none."""
    values = list(values)
    return float(np.mean(values)) if values else None


def ood_separation(in_scores: list[float], out_scores: list[float]) -> dict[str, Any]:
    """AUROC and FPR at 95 % TPR of a score that should be higher for non-products (the positives)."""
    if not in_scores or not out_scores:
        return {"ood_auroc": None, "ood_fpr_at_95_tpr": None, "roc": None}
    truth = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    scores = np.r_[in_scores, out_scores]
    fpr, tpr, _ = roc_curve(truth, scores)
    at_95 = float(fpr[np.searchsorted(tpr, 0.95)])
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).round().astype(int))
    return {
        "ood_auroc": float(roc_auc_score(truth, scores)),
        "ood_fpr_at_95_tpr": at_95,
        "roc": {
            "fpr": [round(float(v), 4) for v in fpr[keep]],
            "tpr": [round(float(v), 4) for v in tpr[keep]],
        },
    }


def summarise(shop: list[Record], light_on_dark: list[Record], non_products: list[Record]) -> dict[str, Any]:
    """The benchmark's headline numbers and breakdowns from the answers to the three sets."""
    separation = ood_separation([r["ood_score"] for r in shop], [r["ood_score"] for r in non_products])
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for r in non_products:
        by_kind[r["kind"]].append(r)
    return {
        "shop_photo_top1": _mean(r["correct"] for r in shop),
        "light_on_dark_top1": _mean(r["correct"] for r in light_on_dark),
        "shop_needs_review": _mean(r["needs_review"] for r in shop),
        "shop_accepted_accuracy": accepted_accuracy(shop),
        "light_on_dark_accepted_accuracy": accepted_accuracy(light_on_dark),
        "ood_flagged": _mean(r["flagged"] for r in non_products),
        "ood_false_flag": _mean(r["flagged"] for r in shop),
        "ood_auroc": separation["ood_auroc"],
        "ood_fpr_at_95_tpr": separation["ood_fpr_at_95_tpr"],
        "per_condition": {name: accuracy_by(shop, key) for name, key in CONDITIONS.items()},
        "light_on_dark": accuracy_by(light_on_dark, lambda r: r["variant"]),
        "non_product": {
            kind: {
                "n": len(group),
                "flagged": _mean(r["flagged"] for r in group),
                "mean_ood_score": _mean(r["ood_score"] for r in group),
                "called": dict(Counter(r["predicted"] for r in group).most_common(3)),
            }
            for kind, group in sorted(by_kind.items())
        },
        "roc": separation["roc"],
    }


def cross_retrieval(
    queries: np.ndarray,
    query_labels: np.ndarray,
    sources: np.ndarray,
    catalogue: np.ndarray,
    labels: np.ndarray,
    k: int = 10,
    chunk: int = 500,
) -> dict[str, float]:
    """Photos searching a catalogue: same-label precision@k (own source row left out) and source found@k.

    Query i was made from catalogue row sources[i]; `source_at_k` is how often that row is among the first k.
    """
    hits = found = 0
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ catalogue.T
        own = sources[start : start + chunk]
        rows = np.arange(len(sims))
        found += int((np.argsort(-sims, axis=1)[:, :k] == own[:, None]).any(axis=1).sum())
        sims[rows, own] = -np.inf
        order = np.argsort(-sims, axis=1)[:, :k]
        hits += int((labels[order] == query_labels[start : start + chunk, None]).sum())
    n = max(len(queries), 1)
    return {f"precision_at_{k}": hits / (n * k), f"source_at_{k}": found / n}
