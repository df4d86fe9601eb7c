import pytest
import torch

from shoplens.models import create_model, list_models, register_model


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("in_chans,size", [(1, 28), (3, 32)])
def test_every_model_forward_backward(name, in_chans, size):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_chans=in_chans, img_size=size)
    x = torch.randn(4, in_chans, size, size)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    feats = model.eval().forward_features(x)
    assert feats.shape == (4, model.num_features)


def test_registry_has_the_required_models():
    assert {"seed_cnn", "shopnet"} <= set(list_models())


def test_duplicate_name_is_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_model(lambda **kw: None, name="seed_cnn")


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(KeyError, match="seed_cnn"):
        create_model("nope")


def test_seed_cnn_matches_the_keras_recipe():
    model = create_model("seed_cnn", num_classes=10)
    # Keras summary of the classic recipe: 320 + 18,496 + 36,928 + 36,928 + 650 parameters.
    assert sum(p.numel() for p in model.parameters()) == 93_322
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 64] and all(c.kernel_size == (3, 3) for c in convs)
    assert all(c.padding == (0, 0) for c in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_default_model_is_stronger_by_design():
    model = create_model("shopnet")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
