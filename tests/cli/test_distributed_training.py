"""`shoplens train --nproc 2` on a streamed folder: two processes, one bundle, one report."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shoplens.cli import app
from tests.support.data import write_image_folder


def test_nproc_under_torchrun_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["train", "--folder", str(tmp_path), "--nproc", "2"])
    assert result.exit_code == 2 and "torchrun already started this process" in result.output


@pytest.mark.slow
def test_two_processes_train_one_bundle_from_a_streamed_folder(tmp_path):
    root = write_image_folder(tmp_path / "shop", 400)
    out = tmp_path / "models" / "shop" / "v1"
    args = ["--folder", str(root), "--stream", "--nproc", "2", "--epochs", "4", "--batch-size", "32"]
    args += ["--metric-loss", "none"]  # the classifier alone: what two processes must agree on
    result = CliRunner().invoke(
        app, ["train", *args, "--threads", "1", "--no-progress", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("test accuracy") == 1  # rank 0 reports
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.5  # ten classes: chance is 0.1
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 4 and [r["epoch"] for r in state["history"]] == [1, 2, 3, 4]
    assert json.loads((out / "config.json").read_text())["data"]["kind"] == "folder"


@pytest.mark.slow
def test_torchrun_trains_one_bundle_and_exits_cleanly(tmp_path):
    root = write_image_folder(tmp_path / "shop", 200)
    out = tmp_path / "models" / "shop" / "v1"
    torchrun = [
        str(Path(sys.executable).with_name("torchrun")),
        "--standalone",  # a free port of its own for the rendezvous
        "--nproc-per-node",
        "2",
        "-m",
        "shoplens.training",
    ]
    args = ["--folder", str(root), "--stream", "--epochs", "1", "--batch-size", "32", "--metric-loss", "none"]
    args = [*torchrun, *args, "--threads", "1", "--no-progress"]
    done = subprocess.run([*args, "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # no rank aborted while the interpreter shut down
    assert done.stdout.count("test accuracy") == 1 and (out / "model.safetensors").is_file()
    nowhere = [*torchrun, "--folder", str(tmp_path / "nowhere")]
    bad = subprocess.run(nowhere, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "not a folder" in bad.stdout + bad.stderr  # each rank's own message
