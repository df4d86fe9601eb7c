"""Inference speed in one run: the default model and seed_cnn under ONNX Runtime, OpenVINO and torch, Keras under TF.

    make bench-inference                    # creates .venv-tf (tensorflow-cpu) first, then runs this
    .venv/bin/python bench/inference.py [--batches 1 32 256] [--min-seconds 2] [--tf-python .venv-tf/bin/python]

Writes bench/results/inference.json and bench/results/inference.png. Inputs are normalised float32 batches (the
Predictor's normalisation is not timed); ONNX models are exported to a temporary folder, never into a bundle.
The machine record (as in every bench file) names the CPU flags that decide which precision pays (AVX2, AVX-512,
VNNI, bf16, AMX); OpenVINO runs FP32 everywhere and bf16 too where the CPU has AMX.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib

matplotlib.use("Agg")
import onnxruntime
import openvino
from common import RESULTS, machine_info, write_results
from matplotlib.figure import Figure
from torch import nn

from shoplens.errors import BundleError
from shoplens.inference.benchmark import count_macs, sgemm_peak, theoretical_peak, time_session
from shoplens.inference.cpu import has_amx_bf16
from shoplens.inference.export import export_model_onnx
from shoplens.inference.onnx_session import OrtSession
from shoplens.inference.openvino_session import OpenVinoSession
from shoplens.inference.torch_session import TorchSession
from shoplens.models import create_model, load_bundle
from shoplens.models.bundle import read_config
from shoplens.training.presets import preset_config

ROOT = Path(__file__).resolve().parents[1]
INPUT = (1, 28, 28)
TARGETS = [  # (model, batch, minimum ratio over keras_seed, what it says)
    ("seed_cnn", 256, 2.0, "seed_cnn via ONNX Runtime ≥ 2× Keras at batch 256"),
    ("seed_cnn", 1, 5.0, "seed_cnn via ONNX Runtime ≥ 5× Keras at batch 1"),
    ("default", 256, 1.0, "default model via ONNX Runtime ≥ Keras at batch 256"),
]


def default_model() -> tuple[nn.Module, dict]:
    """The newest Fashion-MNIST bundle of the default architecture, else that architecture freshly initialised."""
    name = preset_config("fast").model
    configs = sorted(
        (ROOT / "var" / "models" / "fashion-mnist").glob("*/config.json"), key=lambda p: p.stat().st_mtime
    )
    for config in reversed(configs):
        if read_config(config.parent).get("architecture") != name:
            continue
        try:
            bundle = load_bundle(config.parent)
        except BundleError as e:
            print(f"skipping {config.parent}: {e}", flush=True)
            continue
        facts = {
            "bundle": str(bundle.path.relative_to(ROOT)),
            "test_accuracy": bundle.metrics.get("accuracy"),
        }
        return bundle.model, {"architecture": name, **facts}
    return create_model(name).eval(), {"architecture": name, "bundle": None, "test_accuracy": None}


def openvino_sessions(path: Path) -> list[OpenVinoSession]:
    """OpenVINO FP32, plus bf16 where the CPU has AMX (each named by its runtime string)."""
    sessions = [OpenVinoSession(path)]
    if has_amx_bf16():
        sessions.append(OpenVinoSession(path, precision="bf16"))
        sessions[-1].runtime = "openvino-bf16"
    return sessions


def time_torch_models(batches: list[int], timing: dict, tmp: Path) -> list[dict]:
    """Rows for the default model and seed_cnn under ONNX Runtime and torch eager."""
    model, facts = default_model()
    rows = []
    for label, net, info in (
        ("default", model, facts),
        ("seed_cnn", create_model("seed_cnn").eval(), {"architecture": "seed_cnn"}),
    ):
        mmac = count_macs(net, INPUT) / 1e6
        onnx_path = export_model_onnx(net, tmp / f"{label}.onnx", INPUT)
        sessions = [OrtSession(onnx_path), *openvino_sessions(onnx_path), TorchSession(net)]
        for batch in batches:
            for session in sessions:
                row = {"model": label, **info, **time_session(session, INPUT, batch, mmac, **timing)}
                rows.append(row)
                print(
                    f"{label:9s} {row['runtime']:13s} batch {batch:4d}: {row['images_per_second']:10.0f} img/s  "
                    f"p50 {row['latency_ms_p50']:8.3f} ms  {row['gmac_per_second']:6.1f} GMAC/s",
                    flush=True,
                )
    return rows


def time_keras(python: Path, batches: list[int], timing: dict, mmac: float) -> tuple[list[dict], dict]:
    """Rows for the Keras recipe, timed by bench/keras_infer.py in the TensorFlow interpreter."""
    if not python.is_file():
        print(
            f"TensorFlow skipped: {python} missing (run `make bench-inference` to create .venv-tf)",
            flush=True,
        )
        return [], {"skipped": f"{python} missing"}
    cmd = [
        str(python),
        str(ROOT / "bench" / "keras_infer.py"),
        "--batches",
        *map(str, batches),
        "--min-seconds",
        str(timing["min_seconds"]),
        "--min-reps",
        str(timing["min_reps"]),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(f"TensorFlow run failed:\n{done.stderr[-2000:]}", flush=True)
        return [], {"failed": done.stderr[-2000:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for run in result.pop("runs"):
        rows.append(
            {
                "model": "keras_seed",
                "architecture": "keras Sequential (classic recipe)",
                "runtime": "tensorflow",
                **run,
                "mmac_per_image": round(mmac, 3),
                "gmac_per_second": round(run["images_per_second"] * mmac / 1e3, 2),
            }
        )
        print(
            f"keras_seed tensorflow   batch {run['batch']:4d}: {run['images_per_second']:10.0f} img/s  "
            f"p50 {run['latency_ms_p50']:8.3f} ms  ({run['method']})",
            flush=True,
        )
    return rows, result


def check_targets(runs: list[dict]) -> list[dict]:
    """Throughput ratios over the Keras recipe for each target: met, missed, or not measured (None)."""
    speed = {(r["model"], r["runtime"], r["batch"]): r["images_per_second"] for r in runs}
    checks = []
    for model, batch, need, text in TARGETS:
        ours, keras = speed.get((model, "onnxruntime", batch)), speed.get(("keras_seed", "tensorflow", batch))
        ratio = round(ours / keras, 2) if ours and keras else None
        met = None if ratio is None else ratio >= need  # None: Keras did not run here
        checks.append({"target": text, "ratio": ratio, "required": need, "met": met})
        print(f"{ {True: 'MET   ', False: 'MISSED', None: 'NOT RUN'}[met] } {text}: {ratio}×", flush=True)
    return checks


def earlier_keras(path: Path) -> dict | None:
    """The Keras rows and targets of the results file this run replaces (with its machine and date), if any."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    old = old.get("earlier_run_with_keras") or old
    rows = [r for r in old.get("runs", []) if r.get("runtime") == "tensorflow"]
    if not rows:
        return None
    machine = old.get("machine", {})
    return {
        "machine": machine,
        "date": machine.get("date"),
        "targets": old.get("targets"),
        "runs": old["runs"],
    }


def plot(runs: list[dict], path: Path) -> None:
    """Grouped bars: images/s per batch size, one bar per model and runtime, log scale."""
    series = list(dict.fromkeys((r["model"], r["runtime"]) for r in runs))
    batches = sorted({r["batch"] for r in runs})
    speed = {(r["model"], r["runtime"], r["batch"]): r["images_per_second"] for r in runs}
    fig = Figure(figsize=(8, 4.8), dpi=120)
    ax = fig.add_subplot()
    width = 0.8 / max(len(series), 1)
    for i, (model, runtime) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(batches))]
        ax.bar(xs, [speed.get((model, runtime, b), 0) for b in batches], width, label=f"{model} · {runtime}")
    ax.set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
    ax.set_yscale("log")
    ax.set_ylabel("images per second (p50 latency)")
    ax.set_title("Inference throughput on this CPU (higher is better)")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--min-seconds", type=float, default=2.0, help="per configuration, after warm-up")
    parser.add_argument("--min-reps", type=int, default=20, help="per configuration, after warm-up")
    parser.add_argument("--tf-python", type=Path, default=ROOT / ".venv-tf" / "bin" / "python")
    args = parser.parse_args()
    timing = {"min_seconds": args.min_seconds, "min_reps": args.min_reps}
    peak = {"theoretical": theoretical_peak(), "measured_sgemm": sgemm_peak()}
    print(
        f"peak: {peak['theoretical']['gmac_per_second']} GMAC/s estimated, "
        f"{peak['measured_sgemm']['gmac_per_second']} GMAC/s sgemm"
    )
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as tmp:
        runs = time_torch_models(args.batches, timing, Path(tmp))
    seed_mmac = next(
        r["mmac_per_image"] for r in runs if r["model"] == "seed_cnn"
    )  # the Keras net has the same layers
    keras_rows, tf_info = time_keras(args.tf_python, args.batches, timing, seed_mmac)
    runs += keras_rows
    for r in runs:
        r["peak_fraction_sgemm"] = round(r["gmac_per_second"] / peak["measured_sgemm"]["gmac_per_second"], 4)
    machine = {
        **machine_info(),
        "onnxruntime": onnxruntime.__version__,
        "openvino": openvino.__version__,
        "tensorflow": tf_info,
    }
    payload = {
        "machine": machine,
        "peak": peak,
        "timing": timing,
        "targets": check_targets(runs),
        "runs": runs,
    }
    if not keras_rows:  # keep the last Keras comparison, labelled as such: its ratios came from that run
        payload["earlier_run_with_keras"] = earlier_keras(RESULTS / "inference.json")
    print(f"wrote {write_results('inference', payload)}")
    plot(runs, RESULTS / "inference.png")
    print(f"wrote {RESULTS / 'inference.png'}")


if __name__ == "__main__":
    main()
