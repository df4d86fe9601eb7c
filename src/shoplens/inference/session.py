"""Runtime sessions: the protocol every one follows (a model's forward pass on normalised float batches) and
the choice of one for a bundle. torch is imported only for the torch runtime, ONNX Runtime only for its own."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from shoplens.errors import BundleError
from shoplens.inference.kinds import Device, Runtime
from shoplens.models.bundle import BundleSpec

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"


@runtime_checkable
class InferenceSession(Protocol):
    """Runs a bundle's network: normalised float32 (N, C, H, W) in, (logits (N, K), embeddings (N, D)) out."""

    runtime: str

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and un-normalised penultimate features for one batch."""
        ...


ONNX_RUNTIMES = {  # runtime name -> (the bundle's file it runs, OpenVINO's precision hint or None for ORT)
    "onnxruntime": (ONNX_NAME, None),
    "onnxruntime-int8": (INT8_NAME, None),
    "openvino": (ONNX_NAME, "f32"),
    "openvino-bf16": (ONNX_NAME, "bf16"),
    "openvino-int8": (INT8_NAME, "f32"),  # the QDQ graph runs in int8 kernels whatever the hint
}


def open_onnx(
    bundle: BundleSpec, runtime: str, threads: int | None = None, device: Device = "cpu"
) -> InferenceSession:
    """A session of one ONNX runtime name (ONNX_RUNTIMES) on the bundle's exported model."""
    name, precision = ONNX_RUNTIMES[runtime]
    path = bundle.path / name
    if not path.is_file():
        hint = " --int8 (kept only when accurate enough)" if name == INT8_NAME else ""
        raise BundleError(f"{bundle.path} has no {name}; run `shoplens export {bundle.path}{hint}` first")
    if precision is None:
        from shoplens.inference.onnx_session import OrtSession  # heavy: only for the runtime chosen

        return OrtSession(path, threads=threads, device=device)
    try:
        from shoplens.inference.openvino_session import OpenVinoSession
    except ImportError as e:
        raise BundleError(f"runtime {runtime} needs OpenVINO: pip install 'shoplens[openvino]' ({e})") from e
    session = OpenVinoSession(path, threads=threads, precision=precision)
    session.runtime = runtime
    return session


def make_session(
    bundle: BundleSpec, runtime: Runtime = "auto", threads: int | None = None, device: Device = "cpu"
) -> InferenceSession:
    """The named runtime; auto: the fastest accurate ONNX runtime when the bundle has model.onnx, else torch eager."""
    if runtime in ONNX_RUNTIMES:
        return open_onnx(bundle, runtime, threads, device)
    if runtime == "auto" and (bundle.path / ONNX_NAME).is_file():
        from shoplens.inference.devices import CUDA_PROVIDER, ort_providers

        if CUDA_PROVIDER in ort_providers(device):  # a usable GPU (cuda without one: an error)
            return open_onnx(bundle, "onnxruntime", threads, device)
        from shoplens.inference.calibrate import choose_session  # times and checks each CPU candidate

        return choose_session(bundle, threads)
    from shoplens.inference.torch_session import TorchSession  # torch: never on the ONNX path
    from shoplens.models.bundle import load_network

    network = getattr(bundle, "model", None)  # a loaded Bundle brings its network along
    return TorchSession(network if network is not None else load_network(bundle), threads, device)
