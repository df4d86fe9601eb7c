#!/usr/bin/env bash
# Training and embedding throughput with --device cuda next to --device cpu → bench/results/gpu.json.
# Run on a machine with a CUDA GPU (torch with CUDA; onnxruntime-gpu for ONNX Runtime's CUDA provider):
#   bench/gpu.sh                          # both devices, writes bench/results/gpu.json
#   bench/gpu.sh --devices cpu --out gpu_cpu_check   # the script itself, on any machine
# Without a usable GPU it stops with an error and writes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" - <<'PY'
import onnxruntime, torch
print(f"torch {torch.__version__}, CUDA {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
print(f"onnxruntime {onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")
PY
exec "$PYTHON" bench/gpu.py "$@"
