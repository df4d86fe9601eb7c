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


def make_session(
    bundle: BundleSpec, runtime: Runtime = "auto", threads: int | None = None, device: Device = "cpu"
) -> InferenceSession:
    """ONNX Runtime when the bundle has model.onnx (or when asked for; int8 only when asked for), else torch eager."""
    onnx_path = bundle.path / (INT8_NAME if runtime == "onnxruntime-int8" else ONNX_NAME)
    if runtime in ("onnxruntime", "onnxruntime-int8") or (runtime == "auto" and onnx_path.is_file()):
        if not onnx_path.is_file():
            hint = " --int8 (kept only when accurate enough)" if runtime == "onnxruntime-int8" else ""
            raise BundleError(
                f"{bundle.path} has no {onnx_path.name}; run `shoplens export {bundle.path}{hint}` first"
            )
        from shoplens.inference.onnx_session import OrtSession  # heavy: only for the runtime chosen

        return OrtSession(onnx_path, threads=threads, device=device)
    from shoplens.inference.torch_session import TorchSession  # torch: never on the ONNX path
    from shoplens.models.bundle import load_network

    network = getattr(bundle, "model", None)  # a loaded Bundle brings its network along
    return TorchSession(network if network is not None else load_network(bundle), threads, device)
