"""ONNX Runtime session behind the InferenceSession protocol: an exported bundle's graph on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from shoplens.errors import BundleError
from shoplens.inference.devices import ort_providers
from shoplens.inference.kinds import Device
from shoplens.processes import usable_cpus

INPUT = "input"
OUTPUTS = ("logits", "embedding")


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Every graph optimisation, sequential execution, `threads` intra-op threads (default: every core)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or usable_cpus()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: no warnings about initializers on every load
    return opts


class OrtSession:
    """ONNX Runtime execution of an exported bundle graph (`input` → `logits`, `embedding`)."""

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: Device = "cpu") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BundleError(f"{self.path} does not exist")
        providers = ort_providers(device)
        try:
            opts = session_options(threads)
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as e:  # ORT's own exception types (InvalidGraph, Fail, …) derive from Exception only
            raise BundleError(f"{self.path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from e
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [INPUT] or sorted(outputs) != sorted(OUTPUTS):
            raise BundleError(
                f"{self.path}: expected input {INPUT!r} and outputs {OUTPUTS}, got {inputs} → {outputs}"
            )
        width = self.session.get_outputs()[outputs.index(OUTPUTS[1])].shape[-1]
        self.embedding_dim = width if isinstance(width, int) else None

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features for one normalised float32 (N, C, H, W) batch."""
        logits, feats = self.session.run(list(OUTPUTS), {INPUT: np.ascontiguousarray(x, dtype=np.float32)})
        return logits, feats
