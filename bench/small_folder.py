"""Small-folder benchmark: 3 classes × 60 colour photos, the default preset, held-out top-1.

    .venv/bin/python bench/small_folder.py                 # 3 seeds adapted + 1 with the preset as it is
    .venv/bin/python bench/small_folder.py --seeds 1 --out small_folder_smoke

Renders a merchant's folder (cap, scarf, tote: src/shoplens/data/product_shapes.py) and trains on it exactly
as `shoplens train --folder DIR` does (default preset `fast`, 28 px grayscale). Held-out top-1 is measured on
300 further photos (100 per class, other seeds) through the serving path (decode, preprocess, Predictor), and
also reported on the folder's own 15 % test split. The unadapted run keeps the preset's batch 256, LR and 8
epochs — what training did before batch and epochs adapted to small folders. Training uses one thread
(the recipe is otherwise the preset's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, mean_std, write_results

from shoplens.data.product_shapes import SHAPES, render_product, write_folder
from shoplens.imaging import decode_image
from shoplens.inference import load_predictor
from shoplens.training.pipeline import DataSource, run_training
from shoplens.training.presets import preset_config

PER_CLASS = 60
HELD_OUT_PER_CLASS = 100


def held_out_top1(bundle: Path, seed: int) -> float:
    """Share of HELD_OUT_PER_CLASS fresh photos per class whose top-1 is their class."""
    predictor = load_predictor(bundle, runtime="torch")
    right = total = 0
    for c, kind in enumerate(SHAPES):
        photos = [
            decode_image(render_product(kind, 7_000_000 + seed * 100_003 + c * 10_007 + i))
            for i in range(HELD_OUT_PER_CLASS)
        ]
        right += sum(p.label == kind for p in predictor.predict_images(photos))
        total += len(photos)
    return right / total


def one_run(root: Path, seed: int, adapt: bool) -> dict:
    """Render the folder for this seed, train on it, and score the bundle."""
    folder = write_folder(root / f"folder-{seed}", PER_CLASS, seed)
    keep = () if adapt else ("batch_size", "epochs", "lr")
    cfg = preset_config("fast", seed=seed, threads=1)  # one thread: the shared 2-core machine is busy
    start = time.perf_counter()
    bundle, metrics = run_training(
        cfg,
        DataSource("folder", str(folder)),
        root / "models" / "small" / f"s{seed}-{adapt}",
        progress=False,
        keep=keep,
    )
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "adapted": adapt,
        "held_out_top1": held_out_top1(bundle, seed),
        "test_split_top1": metrics["accuracy"],
        "test_split_samples": metrics["num_samples"],
        "changes": metrics["extra"]["adapted_to_small_data"],
        "warnings": metrics["extra"]["warnings"],
        "review_rule": metrics["extra"]["review_rule"],
        "train_and_evaluate_seconds": round(seconds, 1),
    }


def main() -> None:
    """Run the benchmark and write bench/results/<out>.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default="small_folder")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(Path(tmp), seed, adapt=True) for seed in range(args.seeds)]
        baseline = one_run(Path(tmp), 0, adapt=False)
    for run in [*runs, baseline]:
        print(
            f"seed {run['seed']} adapted={run['adapted']}: held-out {run['held_out_top1']:.3f}, "
            f"test split {run['test_split_top1']:.3f} ({run['train_and_evaluate_seconds']} s)"
        )
    held_out = [r["held_out_top1"] for r in runs]
    payload = {
        "what": f"{len(SHAPES)} classes × {PER_CLASS} colour photos, default preset (fast), 28 px grayscale; "
        f"held-out: {HELD_OUT_PER_CLASS} fresh photos per class",
        "small_folder_top1": mean_std(held_out)["mean"],
        "held_out_top1": mean_std(held_out),
        "test_split_top1": mean_std([r["test_split_top1"] for r in runs]),
        "unadapted_held_out_top1": baseline["held_out_top1"],
        "runs": [*runs, baseline],
        "machine": machine_info(),
    }
    print(f"small_folder_top1 {payload['small_folder_top1']:.3f} → {write_results(args.out, payload)}")


if __name__ == "__main__":
    main()
