import numpy as np
import torch

from shoplens.imaging import PreprocessConfig
from shoplens.inference import Predictor
from shoplens.inference.session import InferenceSession, TorchSession
from shoplens.models import Bundle, create_model
from shoplens.training.loop import predict_logits
from shoplens.training.metrics import softmax


def tiny_bundle(tmp_path, tta=False) -> Bundle:
    torch.manual_seed(0)
    model = create_model("shopnet", num_classes=4).eval()
    pre = PreprocessConfig(mean=(0.3,), std=(0.4,))
    return Bundle(
        tmp_path, model, {}, pre, ["a", "b", "c", "d"], temperature=1.5, review_threshold=0.9, tta_flip=tta
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
