"""The model card (README.md) written into every evaluated bundle."""

from __future__ import annotations

import json
from typing import Any

from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.inference.ood import load_detector
from shoplens.models.bundle import CARD, BundleSpec
from shoplens.training.metrics import describe_estimate

PHOTO_BENCHMARK = "photo_benchmark.json"  # written into the bundle by bench/photos.py
_SEARCH_ROWS = (("shop_precision_at_10", "same category"), ("shop_source_at_10", "the very garment shown"))


def _pct(value: Any) -> str:
    """0.731 → '73.1 %'; missing → 'not measured'."""
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "not measured"


def _non_products(bundle: BundleSpec, metrics: dict[str, Any]) -> str:
    """How the bundle treats photos that are not products, with what training measured."""
    detector = load_detector(bundle.path)
    if detector is None:
        return (
            "This bundle has no out-of-distribution detector: a photo that is not a product still gets one of the "
            "categories above, with no warning beyond a lower confidence."
        )
    held = metrics.get("extra", {}).get("ood_held_out", {})
    trees = detector.trees
    model = (
        f"gradient-boosted trees ({trees.feature.shape[0]} trees of at most {trees.feature.shape[1]} nodes)"
        if trees is not None
        else "a small logistic model"
    )
    return (
        f"Every photo also gets an `ood_score` (0..1, high = not a product) from {model} over the "
        "calibrated confidence, the entropy, the Mahalanobis distance of the embedding to the class centres and "
        "cues read from the photo (background uniformity, product share, …), stored in `ood.json`. At or above "
        "its threshold the result's `status` is `not_recognised` and search answers no matches; between the "
        "review cut and the threshold it is `needs_review`.\n"
        f"- Fitted on photos rendered from validation garments and on synthetic non-products (textures, text, "
        "noise, gradients, UI mock-ups), each photo then scored by the trees fitted without it: "
        f"{_pct(held.get('ood_flagged'))} of the non-products flagged, "
        f"{_pct(held.get('ood_false_flag'))} of the product photos falsely flagged, AUROC "
        f"{held.get('ood_auroc', float('nan')):.3f}. Real non-product photos are harder; see below."
    )


def _accepted(review: dict[str, Any]) -> str:
    """The accuracy of the answers review lets through, or "n/a" (every answer reviewed, or not recorded)."""
    value = review.get("accepted_accuracy")
    return f"{value:.3f}" if isinstance(value, float) else "n/a"


def _shop_photos(bundle: BundleSpec) -> str:
    """The bundle's measured accuracy on rendered shop photos, or how to measure it."""
    path = bundle.path / PHOTO_BENCHMARK
    if not path.is_file():
        return (
            "Not measured for this bundle yet: `python bench/photos.py --bundle "
            f"{bundle.path}` renders Fashion-MNIST test garments as shop photos, adds real and synthetic "
            "non-product photos, and records the result here."
        )
    r = json.loads(path.read_text())
    return (
        f"Measured by `{r.get('command', 'bench/photos.py')}` on {r.get('photos', '?')} rendered photos "
        f"({r.get('measured_at', '?')}):\n\n"
        "| measure | value |\n|---|---|\n"
        f"| shop-photo top-1 (varied garments, backgrounds, sizes, JPEG) | {_pct(r.get('shop_photo_top1'))} |\n"
        f"| light-on-dark photos top-1 | {_pct(r.get('light_on_dark_top1'))} |\n"
        f"| non-product photos flagged `not_recognised` | {_pct(r.get('ood_flagged'))} |\n"
        f"| shop photos falsely flagged | {_pct(r.get('ood_false_flag'))} |\n"
        f"| not-a-product AUROC | {r.get('ood_auroc', float('nan')):.3f} |"
        + (
            f"\n| shop photos sent to review / right when not | {_pct(r.get('shop_needs_review'))} / "
            f"{_pct(r['shop_accepted_accuracy'])} |"
            if r.get("shop_accepted_accuracy") is not None  # records of older runs lack it
            else ""
        )
        + "".join(
            f"\n| shop photos searching the test catalogue: {what} in the first 10 | {_pct(r[key])} |"
            for key, what in _SEARCH_ROWS
            if r.get(key) is not None  # records of older runs lack them
        )
    )


_FASHION_LIMITS = """- Trained on {h}×{w} grayscale, centred, single-product images on a plain background
  (Fashion-MNIST style), read from photos by the `{reader}` reader. Photos with several items, models wearing the
  item, or busy backgrounds are outside what it was trained on; dark garments on dark backgrounds are its weakest
  photos.
- The weakest classes (see the table) are look-alikes such as Shirt vs T-shirt/top vs Pullover vs Coat."""
_OWN_PHOTOS = (
    "`bench/photos.py` renders Fashion-MNIST garments, which this model was not trained on: measure it on photos of "
    "its own categories kept out of training, `shoplens evaluate BUNDLE --folder HOLDOUT`."
)


def _own_limits(bundle: BundleSpec) -> str:
    """The limitations of a model trained on a merchant's own photos."""
    pre = bundle.preprocess
    colour = "colour" if pre.in_chans == 3 else "grayscale"
    return (
        f"- Trained on the merchant's own photos, read at {pre.size[0]}×{pre.size[1]} in {colour} ({pre.resize}). "
        "Photos unlike them (other categories, framing, lighting) are outside what it was trained on.\n"
        "- The weakest classes are those with the lowest F1 in the table; few photos make every number uncertain."
    )


def _uncalibrated(metrics: dict[str, Any]) -> str:
    """The ECE before temperature scaling, or 'n too small' where the calibrated one has no interval either."""
    value = metrics.get("ece_uncalibrated")
    if value is None:
        return "—"
    return (
        f"{value:.4f}"
        if metrics.get("ece_interval")
        else f"n too small ({metrics.get('num_samples', '?')} samples)"
    )


def _cell(text: str) -> str:
    """A text as one Markdown table cell (a `|` in a category name would end it)."""
    return text.replace("|", "\\|")


def _training_run(metrics: dict[str, Any]) -> str:
    """How long the training ran and in which precision, where metrics.json records it ('' where not)."""
    extra = metrics.get("extra", {})
    parts = []
    if extra.get("epochs") and extra.get("train_seconds") is not None:
        parts.append(f"{extra['epochs']} epochs in {float(extra['train_seconds']):.0f} s")
    if extra.get("precision"):
        parts.append(f"forward passes in {extra['precision']}")
    return f" ({', '.join(parts)})" if parts else ""


def write_model_card(bundle: BundleSpec, metrics: dict[str, Any]) -> None:
    """Data, metrics, intended use and limitations of the bundle, as Markdown."""
    cfg = bundle.config
    tc = cfg.get("train_config", {})
    data = cfg.get("data", {})
    review = metrics.get("review", {})
    per_class = metrics.get("per_class", {})
    fashion = list(bundle.labels) == list(
        CLASS_NAMES
    )  # the garments bench/photos.py renders, the look-alikes
    rows = "\n".join(
        f"| {_cell(name)} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for name, m in ((n, per_class[n]) for n in metrics.get("labels", per_class) if n in per_class)
    )
    trained = f"trained with preset `{tc.get('preset')}`{_training_run(metrics)}"
    text = f"""# {bundle.name} {bundle.version}

ShopLens product-category classifier: `{cfg["architecture"]}`, {trained}.

## Data
- Training data: `{data.get("source", "?")}` (checksum `{data.get("checksum", "?")[:16]}…`),
  {data.get("train_samples", "?")} training and {data.get("val_samples", "?")} validation images
  (stratified split, seed {tc.get("seed")}).
- Evaluated on `{metrics.get("data", {}).get("source", "?")}` ({
        metrics.get("num_samples")
    } images), never seen in
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
| ECE (uncalibrated) | {_uncalibrated(metrics)} |
| review threshold | {bundle.review_threshold:.3f} |
| share sent to review | {review.get("flagged_share", 0):.3f} |
| share of errors caught by review | {review.get("errors_caught_share", 0):.3f} |
| accuracy of the answers not sent to review | {_accepted(review)} |

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

Review rule: {cfg.get("review_rule", "one threshold chosen on validation")}.

## What it recognises
{len(bundle.labels)} categories: {
        ", ".join(f"`{_cell(label)}`" for label in bundle.labels)
    }. Anything else is outside
what it knows.

## Photos that are not products
{_non_products(bundle, metrics)}

## Accuracy on shop photos
{_shop_photos(bundle) if fashion else _OWN_PHOTOS}

## Intended use
Suggest a product category for a merchant's or shopper's photo of a single fashion item, with a calibrated
confidence; predictions under the review threshold should go to a person.

## Limitations
{
        _FASHION_LIMITS.format(
            h=cfg["input"]["height"], w=cfg["input"]["width"], reader=bundle.preprocess.reader
        )
        if fashion
        else _own_limits(bundle)
    }
- Calibration was fitted on the validation split; it holds for data like the training data, not under shift.
"""
    (bundle.path / CARD).write_text(text)
