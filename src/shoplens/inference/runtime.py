"""Build a bundle folder's Predictor on a chosen runtime: the named one, or for `auto` the fastest accurate one."""

from __future__ import annotations

import os
from pathlib import Path

from shoplens.inference.calibrate import choose_session
from shoplens.inference.kinds import Device, Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.session import (
    INT8_NAME,
    ONNX_NAME,
    ONNX_RUNTIMES,
    InferenceSession,
    open_onnx,
    open_torch,
)
from shoplens.models.bundle import BundleSpec, read_bundle_spec
from shoplens.processes import usable_cpus

__all__ = ["INT8_NAME", "ONNX_NAME", "Runtime", "load_predictor", "make_session"]


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
        return choose_session(bundle, threads)  # times and checks each CPU candidate
    if threads is None and device == "cpu":  # torch's own default counts the affinity, not a CPU quota
        threads = usable_cpus()
    return open_torch(bundle, threads, device)


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
