"""Build a bundle folder's Predictor on a chosen runtime (the session itself is chosen in `session.py`)."""

from __future__ import annotations

import os
from pathlib import Path

from shoplens.inference.kinds import Device, Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.session import INT8_NAME, ONNX_NAME, make_session
from shoplens.models.bundle import read_bundle_spec

__all__ = ["INT8_NAME", "ONNX_NAME", "Runtime", "load_predictor", "make_session"]


def load_predictor(
    path: str | os.PathLike,
    runtime: Runtime = "auto",
    threads: int | None = None,
    top_k: int = 3,
    device: Device = "cpu",
) -> Predictor:
    """Read a bundle folder's description and wrap it in a Predictor on the chosen runtime and device."""
    spec = read_bundle_spec(Path(path))
    return Predictor(spec, make_session(spec, runtime, threads, device), top_k=top_k)
