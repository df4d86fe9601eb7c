import pytest
import torch

from shoplens.models import create_model, list_models, register_model
from tests.support.data import synthetic_images


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


def multiply_accumulates(model: torch.nn.Module, size: int = 28) -> int:
    """Multiply-accumulates of one forward pass on a 1 × size × size image (convolutions and linear layers)."""
    total = 0

    def count(module: torch.nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += out[0].numel() * per_output
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, size, size))
    for hook in hooks:
        hook.remove()
    return total


def test_default_model_costs_less_per_image_than_the_classic_recipe():
    shopnet, seed_cnn = (
        multiply_accumulates(create_model("shopnet")),
        multiply_accumulates(create_model("seed_cnn")),
    )
    assert 2.4e6 < shopnet < seed_cnn  # ≈2.6 MMAC: more epochs than the classic recipe in the same time


def test_default_model_answers_each_image_alone_at_inference():
    torch.manual_seed(0)
    model = create_model("shopnet")
    model.train()(torch.randn(16, 1, 28, 28) * 3 + 1)  # running statistics away from their defaults
    x = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        together, alone = model.eval()(x), torch.cat([model(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def fit(name: str, steps: int = 40) -> tuple[float, float]:
    """Final training loss and held-out accuracy of `name` after `steps` Adam steps on 200 stripe textures."""
    images, labels = synthetic_images(200, seed=0)
    test_images, test_labels = synthetic_images(100, seed=1)
    x, y = torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels).long()
    torch.manual_seed(0)
    model = create_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    for _ in range(steps):
        batch = torch.randint(0, len(x), (32,))
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        predicted = model.eval()(torch.from_numpy(test_images).float().div(255).unsqueeze(1)).argmax(1)
    return float(loss), float((predicted.numpy() == test_labels).mean())


@pytest.mark.slow
def test_default_model_learns_faster_than_the_classic_recipe():
    (shopnet_loss, shopnet_acc), (seed_loss, _) = fit("shopnet"), fit("seed_cnn")
    assert shopnet_acc >= 0.95 and shopnet_loss < seed_loss / 5
