"""Which device a model trains and runs on: `auto` (CUDA when this machine can use it, else CPU), `cpu` or `cuda`.

torch and ONNX Runtime are asked separately (each is imported only by the function for it), so serving an ONNX
bundle never imports torch.
"""

from __future__ import annotations

from shoplens.errors import DeviceUnavailableError
from shoplens.inference.kinds import Device

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"


def choose(requested: str, cuda_available: bool, what: str) -> str:
    """'cuda' or 'cpu' for a requested device, given whether `what` can use CUDA here."""
    if requested not in DEVICES:
        raise DeviceUnavailableError(f"unknown device {requested!r} (choose {', '.join(DEVICES)})")
    if requested == "cuda" and not cuda_available:
        raise DeviceUnavailableError(
            f"--device cuda: {what} finds no usable CUDA GPU on this machine; use --device cpu or auto"
        )
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    return requested


def torch_device(requested: Device | str = "auto") -> str:
    """The torch device ('cuda' or 'cpu') for training or the torch runtime."""
    import torch

    return choose(requested, torch.cuda.is_available(), "torch")


def ort_providers(requested: Device | str = "auto") -> list[str]:
    """ONNX Runtime execution providers, best first: CUDA (with CPU behind it) or CPU alone."""
    import onnxruntime as ort

    available = CUDA_PROVIDER in ort.get_available_providers()
    device = choose(requested, available, "ONNX Runtime (onnxruntime-gpu with its CUDA provider)")
    return [CUDA_PROVIDER, CPU_PROVIDER] if device == "cuda" else [CPU_PROVIDER]
