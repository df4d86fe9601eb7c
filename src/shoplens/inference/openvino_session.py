"""OpenVINO session behind the InferenceSession protocol: the bundle's ONNX graph compiled for this CPU."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import openvino as ov

from shoplens.errors import BundleError
from shoplens.inference.onnx_session import INPUT, OUTPUTS
from shoplens.processes import usable_cpus

PRECISIONS = ("f32", "bf16")  # OpenVINO's inference precision hints this session accepts


class OpenVinoSession:
    """OpenVINO execution of an exported bundle graph (`input` → `logits`, `embedding`) at a precision hint.

    `precision` is f32 or bf16 (AMX runs bf16 natively); an int8 QDQ graph (model.int8.onnx) runs in int8 kernels
    whatever the hint, as OpenVINO reads its quantize/dequantize pairs.
    """

    runtime = "openvino"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, precision: str = "f32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.path = Path(path)
        self.precision = precision
        if not self.path.is_file():
            raise BundleError(f"{self.path} does not exist")
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",  # one stream: every thread on the one request a batch is
            "INFERENCE_NUM_THREADS": threads or usable_cpus(),
        }
        try:
            core = ov.Core()
            self.compiled = core.compile_model(core.read_model(str(self.path)), "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise BundleError(f"{self.path}: OpenVINO cannot load it ({type(e).__name__}: {e})") from e
        inputs = [i.get_any_name() for i in self.compiled.inputs]
        outputs = [o.get_any_name() for o in self.compiled.outputs]
        if inputs != [INPUT] or sorted(outputs) != sorted(OUTPUTS):
            raise BundleError(
                f"{self.path}: expected input {INPUT!r} and outputs {OUTPUTS}, got {inputs} → {outputs}"
            )
        width = self.compiled.output(OUTPUTS[1]).get_partial_shape()[-1]
        self.embedding_dim = width.get_length() if width.is_static else None
        self._local = threading.local()  # an infer request serves one thread at a time

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features for one normalised float32 (N, C, H, W) batch."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({INPUT: np.ascontiguousarray(x, dtype=np.float32)})
        return tuple(np.array(result[self.compiled.output(name)], copy=True) for name in OUTPUTS)  # type: ignore[return-value]
