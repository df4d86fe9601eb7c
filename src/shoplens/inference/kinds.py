"""Names of the inference runtimes, light enough for settings and the CLI to import."""

from typing import Literal

Runtime = Literal["auto", "onnxruntime", "onnxruntime-int8", "torch"]
