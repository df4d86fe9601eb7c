"""The model card (README.md) written into every evaluated bundle."""

from __future__ import annotations

from typing import Any

from shoplens.models.bundle import CARD, Bundle
from shoplens.training.metrics import describe_estimate


def write_model_card(bundle: Bundle, metrics: dict[str, Any]) -> None:
    """Data, metrics, intended use and limitations of the bundle, as Markdown."""
    cfg = bundle.config
    tc = cfg.get("train_config", {})
    data = cfg.get("data", {})
    review = metrics.get("review", {})
    per_class = metrics.get("per_class", {})
    rows = "\n".join(
        f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for name, m in ((n, per_class[n]) for n in metrics.get("labels", per_class) if n in per_class)
    )
    text = f"""# {bundle.name} {bundle.version}

ShopLens product-category classifier: `{cfg["architecture"]}`, trained with preset `{tc.get("preset")}`.

## Data
- Training data: `{data.get("source", "?")}` (checksum `{data.get("checksum", "?")[:16]}…`),
  {data.get("train_samples", "?")} training and {data.get("val_samples", "?")} validation images
  (stratified split, seed {tc.get("seed")}).
- Evaluated on `{metrics.get("data", {}).get("source", "?")}` ({metrics.get("num_samples")} images), never seen in
  training.
- Input: {cfg["input"]["channels"]}×{cfg["input"]["height"]}×{cfg["input"]["width"]} uint8, preprocessing
  `{cfg["preprocess"]}`.

## Metrics (test set)
| metric | value |
|---|---|
| accuracy | {metrics["accuracy"]:.4f} |
| top-3 accuracy | {metrics["top3_accuracy"]:.4f} |
| macro F1 | {metrics["macro_f1"]:.4f} |
| ECE (calibrated, T={bundle.temperature:.3f}) | {describe_estimate(metrics, "ece")} |
| ECE (uncalibrated) | {metrics.get("ece_uncalibrated", float("nan")):.4f} |
| review threshold | {bundle.review_threshold:.3f} |
| share sent to review | {review.get("flagged_share", 0):.3f} |
| share of errors caught by review | {review.get("errors_caught_share", 0):.3f} |

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Intended use
Suggest a product category for a merchant's or shopper's photo of a single fashion item, with a calibrated
confidence; predictions under the review threshold should go to a person.

## Limitations
- Trained on {cfg["input"]["height"]}×{cfg["input"]["width"]} grayscale, centred, single-product images on a plain
  background (Fashion-MNIST style). Photos with several items, busy backgrounds, models wearing the item, or
  categories outside the {len(bundle.labels)} known ones will be mis-classified with no warning beyond a low confidence.
- The weakest classes (see the table) are look-alikes such as Shirt vs T-shirt/top vs Pullover vs Coat.
- Calibration was fitted on the validation split; it holds for data like the training data, not under shift.
"""
    (bundle.path / CARD).write_text(text)
