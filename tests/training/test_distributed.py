"""DistributedDataParallel on CPU (gloo): two processes learn what one does, stay in step, and resume."""

import dataclasses
import hashlib
import os

import numpy as np
import pytest
import torch
import torch.distributed as tdist

from shoplens.data import fashion_mnist as fm
from shoplens.data import stratified_split
from shoplens.errors import ShopLensError
from shoplens.imaging import PreprocessConfig
from shoplens.training.distributed import from_env, launch
from shoplens.training.loop import CHECKPOINT_NAME, train_model
from shoplens.training.presets import PRESETS

pytestmark = pytest.mark.slow

PRE = PreprocessConfig(mean=(0.286,), std=(0.353,))
CFG = dataclasses.replace(PRESETS["fast"], epochs=2, batch_size=64, lr=0.05, threads=1, outlier_share=0.0)


class Interrupted(Exception):
    pass


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def train_rank(train, val, checkpoint_dir=None, resume=None, crash_after=None):
    """One rank's run (started by `launch`): its history, weights, and whether every rank ended equal."""

    def crash(row):
        if row["epoch"] == crash_after:
            raise Interrupted

    dist = from_env()
    result = train_model(
        CFG,
        train,
        val,
        PRE,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=False,
        on_epoch_end=crash if crash_after else None,
        dist=dist,
    )
    digests = [None] * dist.world
    tdist.all_gather_object(digests, _digest(result.model))
    return result.history, result.model.state_dict(), len(set(digests)) == 1, result.images_seen


@pytest.fixture(scope="module")
def fashion_subset():
    try:
        pool = fm.load_fashion_mnist("train", verify=False)
    except fm.DataNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
    rows = np.random.default_rng(0).permutation(len(pool))[:3000]
    small = pool.subset(rows)
    train_idx, val_idx = stratified_split(small.labels, 1 / 3, seed=0)
    return small.subset(train_idx), small.subset(val_idx)


@pytest.fixture(scope="module")
def two_processes(fashion_subset):
    return launch(2, train_rank, *fashion_subset)


def test_two_processes_learn_what_one_does(fashion_subset, two_processes):
    train, val = fashion_subset
    one = train_model(CFG, train, val, PRE, progress=False)
    history, _, in_step, images_seen = two_processes
    acc1, acc2 = one.history[-1]["val_acc"], history[-1]["val_acc"]
    assert acc1 > 0.6 and acc2 > 0.6  # chance is 0.1
    assert abs(acc1 - acc2) < 0.05, (acc1, acc2)  # 1000 validation images: a few points is noise
    assert in_step  # gradients were averaged: both ranks hold the same weights
    assert images_seen == one.images_seen  # the global batch is the one-process batch, split in two


def test_an_interrupted_two_process_run_resumes_where_it_stopped(fashion_subset, two_processes, tmp_path):
    with pytest.raises(ShopLensError, match="training process failed"):
        launch(2, train_rank, *fashion_subset, tmp_path, None, 1)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)
    assert state["epoch"] == 1 and list(tmp_path.iterdir()) == [tmp_path / CHECKPOINT_NAME]  # rank 0 only
    history, weights, in_step, _ = launch(2, train_rank, *fashion_subset, None, tmp_path / CHECKPOINT_NAME)
    assert [r["epoch"] for r in history] == [1, 2] and in_step
    full = two_processes[1]
    assert all(torch.allclose(full[k].float(), weights[k].float(), atol=1e-5) for k in full)
