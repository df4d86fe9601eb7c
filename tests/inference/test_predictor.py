import numpy as np
import pytest
import torch

from shoplens.imaging import PreprocessConfig
from shoplens.inference import Predictor
from shoplens.inference.predictor import flip_tta, l2_normalize, softmax
from shoplens.inference.session import InferenceSession
from shoplens.inference.torch_session import TorchSession
from shoplens.models import Bundle, create_model
from shoplens.training.loop import predict_logits


def tiny_bundle(tmp_path, tta=False) -> Bundle:
    torch.manual_seed(0)
    model = create_model("shopnet", num_classes=4).eval()
    pre = PreprocessConfig(mean=(0.3,), std=(0.4,))
    return Bundle(
        tmp_path,
        {},
        pre,
        ["a", "b", "c", "d"],
        temperature=1.5,
        review_threshold=0.9,
        tta_flip=tta,
        model=model,
    )


def test_predictor_matches_the_training_path_and_embeds(tmp_path):
    for tta in (False, True):
        bundle = tiny_bundle(tmp_path, tta)
        x = np.random.default_rng(0).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
        probs, emb = Predictor(bundle).run(x)
        expected = softmax(predict_logits(bundle.model, x, bundle.preprocess, tta_flip=tta), 1.5)
        np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
        assert emb.shape == (5, bundle.model.num_features)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_predictions_carry_top_k_review_flag_and_embedding(tmp_path):
    bundle = tiny_bundle(tmp_path)
    preds = Predictor(bundle, top_k=2).predict_arrays(np.zeros((3, 1, 28, 28), np.uint8), embed=True)
    assert len(preds) == 3 and all(len(p.top) == 2 for p in preds)
    assert all(p.needs_review == (p.top[0][1] < 0.9) for p in preds)
    assert preds[0].embedding is not None and preds[0].embedding.shape == (bundle.model.num_features,)
    assert isinstance(TorchSession(bundle.model), InferenceSession)


def test_softmax_rows_sum_to_one_and_survive_huge_logits() -> None:
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(p[1], expected)


def test_softmax_temperature_divides_logits() -> None:
    z = np.array([[0.5, -1.0, 2.0]])
    np.testing.assert_allclose(softmax(z, temperature=2.0), softmax(z / 2.0))
    with pytest.raises(ValueError):
        softmax(z, temperature=0.0)


def test_l2_normalize_gives_unit_rows_and_keeps_zero_rows_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalize(np.array([0.0, 2.0])), [0.0, 1.0])  # one vector alone


def test_flip_tta_averages_each_image_with_its_mirror_in_one_call():
    calls = []

    def run(x):
        calls.append(len(x))
        return (x[:, 0, 0, :2].copy(),)  # the first two pixels of the top row

    x = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    (out,) = flip_tta(run, x)
    np.testing.assert_allclose(out, (x[:, 0, 0, :2] + x[:, 0, 0, ::-1][:, :2]) / 2)
    assert calls == [4]
