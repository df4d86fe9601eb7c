import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from shoplens.api.app import create_app
from shoplens.config import Settings
from shoplens.data import load_fashion_mnist
from shoplens.errors import ShopLensError
from shoplens.evaluation.photo_chart import plot_photo_benchmark
from shoplens.evaluation.photo_summary import accepted_accuracy, cross_retrieval, ood_separation
from shoplens.evaluation.photos import (
    LocalClassifier,
    PhotoBenchConfig,
    RemoteClassifier,
    active_bundle,
    answer,
    run_photo_benchmark,
)
from shoplens.imaging import PreprocessConfig, decode_image, image_to_array
from tests.support.bundles import bundle_at

pytest.importorskip("skimage")
HEADLINE = (
    "shop_photo_top1",
    "light_on_dark_top1",
    "ood_flagged",
    "ood_false_flag",
    "ood_auroc",
    "ood_fpr_at_95_tpr",
    "shop_needs_review",
)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A randomly initialised shopnet bundle with Fashion-MNIST's labels and preprocessing."""
    pre = PreprocessConfig(trim=True, invert=True, mean=(0.286,), std=(0.353,))
    return bundle_at(tmp_path / "models" / "fashion-mnist" / "v1", preprocess=pre, review_threshold=0.3)


@pytest.mark.slow
def test_smoke_run_reports_every_number_and_draws_the_chart(bundle, fmnist_dir, tmp_path):
    classify = LocalClassifier(bundle)
    config = PhotoBenchConfig(
        shop=4, light_on_dark=4, non_product_variants=0, non_product_per_kind=2, samples=4
    )
    result, thumbs = run_photo_benchmark(classify, config, fmnist_dir, verify=False)
    assert result["counts"] == {"shop": 4, "light_on_dark": 4, "non_product": 12}
    for key in HEADLINE:
        assert 0.0 <= result[key] <= 1.0, key
    assert result["colour_accuracy"] is None and result["small_folder_top1"] is None
    assert "shop_accepted_accuracy" in result and "light_on_dark_accepted_accuracy" in result
    assert set(result["pending"]) == {"colour_accuracy", "small_folder_top1"}
    retrieval = result["shop_retrieval"]
    test_split = load_fashion_mnist("test", fmnist_dir, verify=False)
    assert retrieval["queries"] == 4 and retrieval["catalogue"] == len(test_split)
    assert 0.0 <= result["shop_precision_at_10"] == retrieval["precision_at_10"] <= 1.0
    assert 0.0 <= retrieval["source_at_10"] <= 1.0
    assert sum(v["n"] for v in result["per_condition"]["background"].values()) == 4
    assert result["ood_score_source"] == ["1 - max probability"] and result["flag_rule"] == ["needs_review"]
    assert 0.0 <= classify.fashion_mnist_top1(fmnist_dir, verify=False) <= 1.0
    json.dumps(result)  # JSON-ready
    assert len(thumbs) == 4 + 4 + 6  # shop samples, light-on-dark, one per non-product kind
    plot_photo_benchmark({**result, "model": {"name": "t", "version": "v1"}}, thumbs, tmp_path / "c.png")
    assert Image.open(tmp_path / "c.png").size[0] > 800


def test_local_classifier_is_the_serving_path(bundle):
    classify = LocalClassifier(bundle)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 70, 3), dtype=np.uint8))
    photo.save(Path(bundle) / "p.jpg")
    data = (Path(bundle) / "p.jpg").read_bytes()
    (got,) = classify([data])
    pre = classify.predictor.bundle.preprocess
    (expected,) = classify.predictor.predict_arrays(image_to_array(decode_image(data), pre)[None])
    assert got.predicted == expected.label and got.probability == pytest.approx(expected.top[0][1])
    assert got.ood_score == pytest.approx(1 - expected.top[0][1]) and got.flagged == expected.needs_review


def test_remote_classifier_matches_the_local_one(bundle, tmp_path):
    (bundle.parent / "ACTIVE").write_text("v1\n")  # only an activated version serves
    settings = Settings(models_dir=bundle.parent.parent, api_keys_file=tmp_path / "keys.json", open_mode=True)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 80), dtype=np.uint8))
    img.save(tmp_path / "a.png")
    photos = [(tmp_path / "a.png").read_bytes()] * 3
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # the model loads in the background
        remote = RemoteClassifier("http://127.0.0.1", client=client)
        got = remote(photos)
    local = LocalClassifier(bundle)(photos)
    assert [a.predicted for a in got] == [a.predicted for a in local]
    assert [a.probability for a in got] == pytest.approx([a.probability for a in local], abs=1e-5)
    assert remote.model["version"] == "v1"
    assert active_bundle(bundle.parent.parent) == bundle


def test_a_bundle_of_other_categories_or_no_bundle_is_a_clear_error(tmp_path):
    other = bundle_at(
        tmp_path / "models" / "shoes" / "v1",
        labels=["boot", "heel", "trainer"],
        preprocess=PreprocessConfig(),
    )
    with pytest.raises(ShopLensError, match="Fashion-MNIST's categories"):
        LocalClassifier(other)
    with pytest.raises(ShopLensError, match="no model bundle"):
        active_bundle(tmp_path / "models")


def test_a_prediction_with_an_ood_score_and_status_is_scored_by_them():
    with_ood = answer(0.9, False, "Bag", {"ood_score": 3.5, "status": "not_recognised"})
    assert with_ood.ood_score == 3.5 and with_ood.flagged and with_ood.score_from == "ood_score"
    plain = answer(0.9, True, "Bag", object())
    assert plain.ood_score == pytest.approx(0.1) and plain.flagged and plain.flag_rule == "needs_review"


def test_smoke_configuration_is_small():
    smoke = PhotoBenchConfig.smoke(12)
    assert smoke.shop == smoke.light_on_dark == 12 and smoke.non_product_variants == 1
    assert smoke.non_product_per_kind == 2


def test_accepted_accuracy_counts_only_answers_that_need_no_review():
    answers = [(True, False), (False, False), (False, True), (False, True)]  # (correct, needs_review)
    records = [{"correct": c, "needs_review": r} for c, r in answers]
    assert accepted_accuracy(records) == 0.5
    assert accepted_accuracy(records[2:]) is None


def test_ood_separation_of_known_scores():
    perfect = ood_separation([0.1, 0.2, 0.3], [0.7, 0.8, 0.9])
    assert perfect["ood_auroc"] == 1.0 and perfect["ood_fpr_at_95_tpr"] == 0.0
    reversed_ = ood_separation([0.7, 0.8, 0.9], [0.1, 0.2, 0.3])
    assert reversed_["ood_auroc"] == 0.0 and reversed_["ood_fpr_at_95_tpr"] == 1.0
    assert ood_separation([], [0.5])["ood_auroc"] is None


def test_cross_retrieval_leaves_the_source_out_of_precision_and_finds_it():
    catalogue = np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2, 3]]  # rows 0,1 alike; 2,3 alike
    catalogue[[1, 3]] *= 0.99  # the twins come second
    labels = np.array([0, 0, 1, 1, 2, 2])
    queries = catalogue[[0, 2]]  # made from rows 0 and 2
    got = cross_retrieval(queries, labels[[0, 2]], np.array([0, 2]), catalogue, labels, k=1)
    assert got == {
        "precision_at_1": 1.0,
        "source_at_1": 1.0,
    }  # the twin (same label) is first once the source is out
    wrong = cross_retrieval(queries, np.array([2, 2]), np.array([0, 2]), catalogue, labels, k=1, chunk=1)
    assert wrong["precision_at_1"] == 0.0
    lost = cross_retrieval(catalogue[[4]], labels[[4]], np.array([5]), catalogue, labels, k=1)
    assert lost == {"precision_at_1": 1.0, "source_at_1": 0.0}  # row 4 beats its source row 5; same label
