"""--device auto|cpu|cuda: the choice, and a clear error (exit 2) when CUDA is asked for and missing."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.errors import DeviceUnavailableError
from shoplens.inference.devices import CPU_PROVIDER, CUDA_PROVIDER, choose, ort_providers, torch_device
from tests.support.bundles import make_bundle

runner = CliRunner()
no_torch_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
no_ort_cuda = pytest.mark.skipif(
    CUDA_PROVIDER in ort.get_available_providers(), reason="ONNX Runtime has its CUDA provider here"
)


def test_auto_takes_cuda_only_when_it_is_usable():
    assert choose("auto", cuda_available=True, what="torch") == "cuda"
    assert choose("auto", cuda_available=False, what="torch") == "cpu"
    assert choose("cpu", cuda_available=True, what="torch") == "cpu"
    assert choose("cuda", cuda_available=True, what="torch") == "cuda"


def test_cuda_without_a_gpu_and_unknown_devices_are_clear_errors():
    with pytest.raises(DeviceUnavailableError, match="--device cuda: torch finds no usable CUDA GPU"):
        choose("cuda", cuda_available=False, what="torch")
    with pytest.raises(DeviceUnavailableError, match="unknown device 'gpu'"):
        choose("gpu", cuda_available=True, what="torch")


@no_torch_cuda
def test_torch_here_is_cpu():
    assert torch_device("auto") == "cpu" and torch_device("cpu") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="torch finds no usable CUDA GPU"):
        torch_device("cuda")


@no_ort_cuda
def test_onnxruntime_here_is_cpu():
    assert ort_providers("auto") == [CPU_PROVIDER] and ort_providers("cpu") == [CPU_PROVIDER]
    with pytest.raises(DeviceUnavailableError, match="ONNX Runtime"):
        ort_providers("cuda")


def test_onnxruntime_puts_cuda_first_when_it_has_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    assert ort_providers("auto") == [CUDA_PROVIDER, CPU_PROVIDER]
    assert ort_providers("cpu") == [CPU_PROVIDER]


@no_torch_cuda
@no_ort_cuda
@pytest.mark.parametrize(
    "args",
    [
        ["train", "--device", "cuda", "--epochs", "1", "--no-progress"],
        ["serve", "--device", "cuda", "--port", "0"],
        ["serve", "--device", "cuda", "--runtime", "torch", "--port", "0"],
    ],
)
def test_cli_refuses_cuda_without_a_gpu(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "error" in result.output and "no usable CUDA GPU" in result.output
    assert "Traceback" not in result.output


@no_torch_cuda
def test_embedding_on_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    make_bundle(tmp_path / "models", "v1", seed=1)
    (tmp_path / "photos").mkdir()
    args = ["--models-dir", str(tmp_path / "models"), "--version", "v1", "--device", "cuda"]
    result = runner.invoke(
        app, ["classify-batch", str(tmp_path / "photos"), "--out", str(tmp_path / "o.parquet"), *args]
    )
    assert result.exit_code == 2 and "no usable CUDA GPU" in result.output, result.output
    assert not (tmp_path / "o.parquet").exists()


def test_cli_rejects_an_unknown_device():
    result = runner.invoke(app, ["train", "--device", "gpu"])
    assert result.exit_code == 2 and "gpu" in result.output
