"""Choose a runtime for a bundle and build its Predictor."""

from __future__ import annotations

import os
from pathlib import Path

from shoplens.errors import BundleError
from shoplens.inference.kinds import Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.session import InferenceSession, TorchSession
from shoplens.models.bundle import Bundle, load_bundle

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"


def make_session(bundle: Bundle, runtime: Runtime = "auto", threads: int | None = None) -> InferenceSession:
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
    return TorchSession(bundle.model, threads=threads)


def load_predictor(
    path: str | os.PathLike, runtime: Runtime = "auto", threads: int | None = None, top_k: int = 3
) -> Predictor:
    """Load a bundle folder and wrap it in a Predictor on the chosen runtime."""
    bundle = load_bundle(Path(path))
    return Predictor(bundle, make_session(bundle, runtime, threads), top_k=top_k)
