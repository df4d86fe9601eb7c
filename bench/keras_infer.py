"""Time the classic Keras Fashion-MNIST CNN under TensorFlow; run by bench/inference.py with .venv-tf's Python.

    .venv-tf/bin/python bench/keras_infer.py --batches 1 32 256 [--min-seconds 2]

Prints one JSON object: versions and, per batch, the fastest of the ways a Keras user runs inference
(`model.predict_on_batch`, a `tf.function` around `model(x, training=False)`, the same with XLA) plus all of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow import keras

TIMING = Path(__file__).resolve().parents[1] / "src" / "shoplens" / "inference" / "timing.py"


def load_timing():
    """shoplens.inference.timing, loaded by path: this interpreter has TensorFlow, not shoplens or torch."""
    spec = importlib.util.spec_from_file_location("shoplens_timing", TIMING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def classic_cnn() -> keras.Model:
    """Conv2D(32,3) → MaxPool → Conv2D(64,3) → MaxPool → Conv2D(64,3) → Flatten → Dense(64) → Dense(10)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPool2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPool2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--min-reps", type=int, default=20)
    args = parser.parse_args()
    timing = load_timing()
    model = classic_cnn()
    call = tf.function(lambda x: model(x, training=False))
    call_xla = tf.function(lambda x: model(x, training=False), jit_compile=True)
    runs = []
    for batch in args.batches:
        x = tf.constant(np.random.default_rng(0).standard_normal((batch, 28, 28, 1)).astype(np.float32))
        ways = {
            "model.predict_on_batch": lambda x=x: model.predict_on_batch(x),
            "tf.function(model)": lambda x=x: call(x).numpy(),
            "tf.function(model, jit_compile=True)": lambda x=x: call_xla(x).numpy(),
        }
        timed = {
            name: timing.time_calls(fn, batch, min_reps=args.min_reps, min_seconds=args.min_seconds)
            for name, fn in ways.items()
        }
        best = max(timed, key=lambda name: timed[name]["images_per_second"])
        runs.append({"batch": batch, "method": best, **timed[best], "all_methods": timed})
    print(
        json.dumps(
            {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "params": model.count_params(),
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
