"""The model card says what the model recognises, how it treats non-products and what it scored on shop photos."""

import json
from pathlib import Path

from shoplens.evaluation.photos import record_in_bundle
from shoplens.models.bundle import read_bundle_spec
from shoplens.training.card import write_model_card
from tests.support.bundles import add_detector, make_bundle

METRICS = {
    "accuracy": 0.91,
    "top3_accuracy": 0.99,
    "macro_f1": 0.9,
    "per_class": {},
    "extra": {"ood_held_out": {"ood_flagged": 0.95, "ood_false_flag": 0.02, "ood_auroc": 0.987}},
}


def _evaluated(tmp_path: Path) -> Path:
    bundle = make_bundle(tmp_path, "v1", seed=0)
    (bundle / "metrics.json").write_text(json.dumps(METRICS))
    return bundle


def test_card_without_detector_or_photo_numbers_says_so(tmp_path: Path) -> None:
    bundle = _evaluated(tmp_path)
    write_model_card(read_bundle_spec(bundle), METRICS)
    card = (bundle / "README.md").read_text()
    assert "10 categories: `T-shirt/top`, `Trouser`" in card
    assert "no out-of-distribution detector" in card
    assert f"python bench/photos.py --bundle {bundle}" in card
    assert "| accuracy of the answers not sent to review | n/a |" in card  # not recorded
    review = {"threshold": 0.9, "flagged_share": 0.3, "errors_caught_share": 0.8, "accepted_accuracy": 0.981}
    write_model_card(read_bundle_spec(bundle), {**METRICS, "review": review})
    assert "| accuracy of the answers not sent to review | 0.981 |" in (bundle / "README.md").read_text()


def test_card_says_how_the_training_ran(tmp_path: Path) -> None:
    bundle = _evaluated(tmp_path)
    extra = {**METRICS["extra"], "epochs": 8, "train_seconds": 77.9, "precision": "bf16"}
    write_model_card(read_bundle_spec(bundle), {**METRICS, "extra": extra})
    card = (bundle / "README.md").read_text()
    assert "` (8 epochs in 78 s, forward passes in bf16).\n" in card
    write_model_card(read_bundle_spec(bundle), METRICS)  # an older metrics.json without them
    assert "forward passes" not in (bundle / "README.md").read_text()


def test_card_quotes_detector_and_recorded_photo_benchmark(tmp_path: Path) -> None:
    bundle = _evaluated(tmp_path)
    add_detector(bundle)
    payload = {
        "shop_photo_top1": 0.731,
        "light_on_dark_top1": 0.877,
        "ood_flagged": 0.756,
        "ood_false_flag": 0.132,
        "ood_auroc": 0.921,
        "shop_needs_review": 0.46,
        "shop_accepted_accuracy": 0.9813,
        "shop_precision_at_10": 0.812,
        "shop_retrieval": {"precision_at_10": 0.812, "source_at_10": 0.502},
        "counts": {"shop": 1000, "light_on_dark": 300, "non_product": 500},
        "command": "python bench/photos.py --bundle X",
    }
    path = record_in_bundle(bundle, payload)
    assert json.loads(path.read_text())["photos"] == 1800
    card = (bundle / "README.md").read_text()
    assert "`not_recognised`" in card and "95.0 % of the non-products flagged" in card
    assert "| shop-photo top-1 (varied garments, backgrounds, sizes, JPEG) | 73.1 % |" in card
    assert "| shop photos falsely flagged | 13.2 % |" in card and "on 1800 rendered photos" in card
    assert "| shop photos sent to review / right when not | 46.0 % / 98.1 % |" in card
    assert "| shop photos searching the test catalogue: same category in the first 10 | 81.2 % |" in card
    assert (
        "| shop photos searching the test catalogue: the very garment shown in the first 10 | 50.2 % |"
        in card
    )


def test_a_merchants_own_model_has_its_own_card(tmp_path: Path) -> None:
    labels = ["T-shirt|top", "Coat, long"]
    bundle = make_bundle(tmp_path, "v1", seed=0, labels=labels, data={"kind": "folder", "path": "/shop"})
    per_class = {name: {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4} for name in labels}
    write_model_card(read_bundle_spec(bundle), {**METRICS, "per_class": per_class, "labels": labels})
    card = (bundle / "README.md").read_text()
    assert "| T-shirt\\|top | 1.000 |" in card  # one cell, not two
    assert "2 categories: `T-shirt\\|top`, `Coat, long`" in card
    assert "Fashion-MNIST style" not in card and "Shirt vs T-shirt/top" not in card
    assert "Trained on the merchant's own photos" in card and "shoplens evaluate BUNDLE --folder" in card
    small = {**METRICS, "ece": 0.2, "ece_uncalibrated": 0.25, "ece_interval": None, "num_samples": 31}
    write_model_card(read_bundle_spec(bundle), small)
    assert "| ECE (uncalibrated) | n too small (31 samples) |" in (bundle / "README.md").read_text()
