"""Names of the inference runtimes, light enough for settings and the CLI to import."""

from typing import Literal

Runtime = Literal[
    "auto", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16", "openvino-int8", "torch"
]
Device = Literal["auto", "cpu", "cuda"]  # auto: CUDA when this machine's torch / ONNX Runtime can use it

# Model versions that are not trained bundles name their kind in config.json (a trained bundle names none).
ZERO_SHOT = "zero-shot"  # an image–text backbone plus a taxonomy of prompts
FEW_SHOT = "few-shot"  # a head fitted on a frozen encoder's embeddings
