"""Train the `seed`, `fast` and `best` presets on Fashion-MNIST in one run and compare them.

    .venv/bin/python bench/train_vs_seed.py [--seeds 3] [--best-seeds 1] [--best-budget 840] [--keep DIR]

`fast` gets a wall-clock budget equal to the matching `seed` run's training time; `best` gets --best-budget
seconds. Writes bench/results/train_vs_seed.json and bench/results/train_vs_seed.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib

matplotlib.use("Agg")
from common import RESULTS, machine_info, mean_std, write_results
from matplotlib.figure import Figure

from shoplens.training.pipeline import DataSource, run_training
from shoplens.training.presets import preset_config


def run(preset: str, seed: int, workdir: Path, **overrides) -> dict:
    """One training run; returns the JSON row."""
    cfg = preset_config(preset, seed=seed, **overrides)
    _, m = run_training(cfg, DataSource(), workdir / preset / f"seed{seed}", progress=sys.stderr.isatty())
    row = {
        "preset": preset,
        "model": cfg.model,
        "seed": seed,
        "test_accuracy": m["accuracy"],
        "top3_accuracy": m["top3_accuracy"],
        "macro_f1": m["macro_f1"],
        "ece": m["ece"],
        "train_seconds": m["extra"]["train_seconds"],
        "images_per_second": m["extra"]["images_per_second"],
        "epochs": m["extra"]["epochs"],
        "time_budget": cfg.time_budget,
        "tta_flip": cfg.tta_flip,
    }
    print(
        f"{preset:5s} seed {seed}: acc {row['test_accuracy']:.4f} in {row['train_seconds']:.0f}s "
        f"({row['epochs']} epochs, {row['images_per_second']:.0f} img/s)",
        flush=True,
    )
    return row


def plot(runs: list[dict], path: Path) -> None:
    """Test accuracy against training time, one colour per preset."""
    fig = Figure(figsize=(7, 4.5), dpi=120)
    ax = fig.add_subplot()
    colours = {"seed": "tab:grey", "fast": "tab:blue", "best": "tab:green"}
    for preset, colour in colours.items():
        rows = [r for r in runs if r["preset"] == preset]
        if rows:
            ax.scatter(
                [r["train_seconds"] / 60 for r in rows],
                [100 * r["test_accuracy"] for r in rows],
                s=60,
                color=colour,
                label=f"{preset} ({rows[0]['model']})",
            )
    for y, label in (
        (90, "classic recipe ≈ 90 %"),
        (93.5, "fast target 93.5 %"),
        (95.5, "best target 95.5 %"),
    ):
        ax.axhline(y, ls="--", lw=0.8, color="black", alpha=0.4)
        ax.text(0.02, y + 0.08, label, transform=ax.get_yaxis_transform(), fontsize=8, alpha=0.7)
    ax.set_xlabel("training wall time (minutes, 2 CPU cores)")
    ax.set_ylabel("Fashion-MNIST test accuracy (%)")
    ax.set_title("ShopLens presets vs the classic Keras recipe")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds for the seed and fast presets")
    parser.add_argument("--best-seeds", type=int, default=1, help="seeds for the best preset (0 to skip)")
    parser.add_argument(
        "--best-budget", type=float, default=None, help="seconds for best (default: the preset's)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the bundles in this folder (PRESET/seedN) instead of a temp one",
    )
    parser.add_argument("--out", default="train_vs_seed", help="results name")
    args = parser.parse_args()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as tmp:
        work = args.keep or Path(tmp)
        for seed in range(args.seeds):
            seed_row = run("seed", seed, work)
            runs.append(seed_row)
            runs.append(run("fast", seed, work, time_budget=seed_row["train_seconds"]))
        for seed in range(args.best_seeds):
            runs.append(run("best", seed, work, time_budget=args.best_budget))
    summary = {
        p: {
            k: mean_std([r[k] for r in runs if r["preset"] == p])
            for k in ("test_accuracy", "train_seconds", "images_per_second")
        }
        for p in ("seed", "fast", "best")
        if any(r["preset"] == p for r in runs)
    }
    path = write_results(args.out, {"machine": machine_info(), "runs": runs, "summary": summary})
    plot(runs, RESULTS / f"{args.out}.png")
    print(f"wrote {path} and {RESULTS / f'{args.out}.png'}")


if __name__ == "__main__":
    main()
