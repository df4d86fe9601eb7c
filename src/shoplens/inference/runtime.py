"""Choose a runtime for a bundle and build its Predictor; torch is imported only for the torch runtime."""

from __future__ import annotations

import os
from pathlib import Path

from shoplens.errors import BundleError
from shoplens.inference.kinds import Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.session import InferenceSession
from shoplens.models.bundle import BundleSpec, read_bundle_spec

__all__ = ["INT8_NAME", "ONNX_NAME", "Runtime", "load_predictor", "make_session"]
ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"


def make_session(
    bundle: BundleSpec, runtime: Runtime = "auto", threads: int | None = None
) -> InferenceSession:
    """ONNX Runtime when the bundle has model.onnx (or when asked for; int8 only when asked for), else torch eager."""
    onnx_path = bundle.path / (INT8_NAME if runtime == "onnxruntime-int8" else ONNX_NAME)
    if runtime in ("onnxruntime", "onnxruntime-int8") or (runtime == "auto" and onnx_path.is_file()):
        if not onnx_path.is_file():
            hint = " --int8 (kept only when accurate enough)" if runtime == "onnxruntime-int8" else ""
            raise BundleError(
                f"{bundle.path} has no {onnx_path.name}; run `shoplens export {bundle.path}{hint}` first"
            )
        from shoplens.inference.onnx_session import OrtSession

        return OrtSession(onnx_path, threads=threads)
    from shoplens.inference.torch_session import TorchSession
    from shoplens.models.bundle import load_network

    network = getattr(bundle, "model", None)  # a loaded Bundle brings its network along
    return TorchSession(network if network is not None else load_network(bundle), threads=threads)


def load_predictor(
    path: str | os.PathLike, runtime: Runtime = "auto", threads: int | None = None, top_k: int = 3
) -> Predictor:
    """Read a bundle folder's description and wrap it in a Predictor on the chosen runtime."""
    spec = read_bundle_spec(Path(path))
    return Predictor(spec, make_session(spec, runtime, threads), top_k=top_k)
