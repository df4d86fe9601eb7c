"""Runtime sessions: the protocol every one follows (a model's forward pass on normalised float batches), and
opening one by name. torch is imported only for the torch runtime, ONNX Runtime only for its own; which one
`auto` picks is decided in runtime.py."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from shoplens.errors import BundleError
from shoplens.inference.kinds import Device
from shoplens.models.bundle import INT8_NAME, ONNX_NAME, BundleSpec, checked_file


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
    checked_file(bundle, name)
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


def open_torch(bundle: BundleSpec, threads: int | None = None, device: Device = "cpu") -> InferenceSession:
    """torch eager on the bundle's network (a loaded Bundle's own, else built from its weights)."""
    from shoplens.inference.torch_session import TorchSession  # torch: never on the ONNX path
    from shoplens.models.bundle import load_network

    network = getattr(bundle, "model", None)  # a loaded Bundle brings its network along
    return TorchSession(network if network is not None else load_network(bundle), threads, device)
