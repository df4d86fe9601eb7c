import dataclasses
import os

import pytest
import torch

from shoplens.data import load_fashion_mnist, stratified_split
from shoplens.errors import ShopLensError
from shoplens.imaging import PreprocessConfig, normalize
from shoplens.imaging.augment import AugmentConfig
from shoplens.training import loop
from shoplens.training.loop import CHECKPOINT_NAME, autocast_dtype, lr_at, train_model
from shoplens.training.photo_augment import PhotoAugmentConfig
from shoplens.training.presets import PRESETS, TrainConfig, preset_config

pytestmark = pytest.mark.slow

PRE = PreprocessConfig(mean=(0.2,), std=(0.3,))


def tiny_config(**kw) -> TrainConfig:
    base = {
        "model": "shopnet",
        "epochs": 2,
        "batch_size": 32,
        "lr": 0.05,
        "threads": 1,
        "augment": AugmentConfig(crop_padding=2, hflip=True),
        "photo_augment": PhotoAugmentConfig(),
        "outlier_share": 0.0,
    }
    return dataclasses.replace(PRESETS["fast"], **{**base, **kw})


@pytest.fixture
def splits(fmnist_dir):
    pool = load_fashion_mnist("train", fmnist_dir, verify=False)
    tr, va = stratified_split(pool.labels, 0.2, seed=0)
    return pool.subset(tr), pool.subset(va)


def test_presets_follow_the_brief():
    seed = PRESETS["seed"]
    assert (seed.model, seed.optimizer, seed.batch_size, seed.epochs, seed.augment.enabled) == (
        "seed_cnn",
        "adam",
        32,
        5,
        False,
    )
    assert PRESETS["best"].time_budget <= 900
    assert preset_config("fast", lr=0.5, epochs=None).lr == 0.5
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("turbo")


def test_config_round_trip():
    cfg = tiny_config()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown training option keys"):
        TrainConfig.from_dict({"bogus": 1})


def test_onecycle_warms_up_then_anneals():
    cfg = tiny_config(lr=1.0, warmup=0.2)
    assert lr_at(0.0, cfg) == pytest.approx(0.04)
    assert lr_at(0.2, cfg) == pytest.approx(1.0)
    assert lr_at(0.6, cfg) == pytest.approx(0.5)
    assert lr_at(1.0, cfg) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(0.5, tiny_config(schedule="constant", lr=0.3)) == 0.3


def test_training_learns_and_records_history(splits):
    train, val = splits
    result = train_model(tiny_config(epochs=4), train, val, PRE, progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert result.history[-1]["val_acc"] > 0.5  # the synthetic classes are easy; chance is 0.1
    assert result.images_seen == 4 * (len(train) // 32) * 32


def test_same_seed_same_weights(splits):
    train, val = splits
    a = train_model(tiny_config(epochs=1), train, val, PRE, progress=False).model.state_dict()
    b = train_model(tiny_config(epochs=1), train, val, PRE, progress=False).model.state_dict()
    c = train_model(tiny_config(epochs=1, seed=1), train, val, PRE, progress=False).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_continues_where_it_stopped(splits, tmp_path):
    train, val = splits
    full = train_model(tiny_config(epochs=2), train, val, PRE, progress=False)

    def crash(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # interrupted after its first epoch's checkpoint
        train_model(
            tiny_config(epochs=2),
            train,
            val,
            PRE,
            checkpoint_dir=tmp_path,
            progress=False,
            on_epoch_end=crash,
        )
    resumed = train_model(
        tiny_config(epochs=2), train, val, PRE, resume=tmp_path / CHECKPOINT_NAME, progress=False
    )
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-5) for k in sa)
    checkpoint = tmp_path / CHECKPOINT_NAME
    other = dataclasses.replace(train, labels=train.labels % 3, class_names=train.class_names[:3])
    with pytest.raises(ShopLensError, match="trained with other categories than this run"):
        train_model(tiny_config(), other, val, PRE, resume=checkpoint, progress=False)
    same_categories = dataclasses.replace(train, checksum="another folder's")
    with pytest.raises(ShopLensError, match="trained with other photos than this run"):
        train_model(tiny_config(epochs=2), same_categories, val, PRE, resume=checkpoint, progress=False)
    with pytest.raises(
        ShopLensError, match="trained with another seed than this run"
    ):  # its split would differ
        train_model(tiny_config(epochs=2, seed=8), train, val, PRE, resume=checkpoint, progress=False)
    bigger = dataclasses.replace(PRE, size=(32, 32))
    with pytest.raises(ShopLensError, match=r"another input \(size, mode or preprocessing\)"):
        train_model(tiny_config(epochs=2), train, val, bigger, resume=checkpoint, progress=False)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n not a checkpoint", b""])
def test_resuming_from_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    with pytest.raises(ShopLensError, match=r"cannot resume from .*photo\.png: not a"):
        loop.load_checkpoint(path, tiny_config())


def test_time_budget_stops_the_run(splits):
    train, val = splits
    result = train_model(tiny_config(epochs=1000, time_budget=1.5), train, val, PRE, progress=False)
    assert result.stopped == "time budget"
    assert result.train_seconds < 10
    assert len(result.history) < 1000


def test_early_stopping_restores_the_best_epoch(splits):
    train, val = splits
    # a constant, absurd learning rate makes validation stall after the first epochs
    cfg = tiny_config(epochs=30, early_stopping=2, schedule="constant", lr=5.0)
    result = train_model(cfg, train, val, PRE, progress=False)
    assert result.stopped == "early stopping"
    best = max(r["val_acc"] for r in result.history)
    assert result.history[-1]["val_acc"] <= best
    assert len(result.history) < 30


def test_uses_every_core_by_default(splits):
    train, val = splits
    torch.set_num_threads(1)
    train_model(tiny_config(epochs=1, threads=None), train, val, PRE, progress=False)
    assert torch.get_num_threads() == os.cpu_count()


def test_autocast_dtype_follows_the_precision_and_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr(loop, "has_bf16_dot", lambda: True)
    assert autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(loop, "has_bf16_dot", lambda: False)
    assert autocast_dtype("auto", cpu) is None


def test_bf16_training_learns_with_fp32_weights(splits):
    train, val = splits
    half = train_model(tiny_config(epochs=2, precision="bf16"), train, val, PRE, progress=False)
    full = train_model(tiny_config(epochs=2, precision="fp32"), train, val, PRE, progress=False)
    assert half.history[-1]["val_acc"] > 0.5
    assert (half.precision, full.precision) == ("bf16", "fp32")
    weights = half.model.state_dict()
    assert all(w.dtype != torch.bfloat16 for w in weights.values())
    reference = full.model.state_dict()
    assert not all(torch.equal(weights[k], reference[k]) for k in weights)  # the forward pass ran in bf16


def test_training_normalises_exactly_as_serving_does_on_any_device():
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    trained = loop._normalized(x, PRE)
    assert torch.equal(trained, torch.from_numpy(normalize(x.numpy(), PRE)))  # bit for bit: one preprocessing
    assert trained.is_contiguous(memory_format=torch.channels_last)
    assert loop._normalized(x.to("meta"), PRE).device.type == "meta"  # a GPU normalises its own batches
