"""Recipe variants, paired: a preset trained with some options changed, scored on the selection set and the photos.

    .venv/bin/python bench/recipe_variants.py fast 'fp32:precision="fp32"' 'bf16:precision="bf16"'
    .venv/bin/python bench/recipe_variants.py fast 'wide:precision="bf16",model="shopnet_wide"' --out widths

Each variant is NAME:key=json,key=json (TrainConfig fields). Every run trains on the same split with
`train_model` and is scored, with the mirror TTA, on the validation split and 1,200 training-side renders (the
selection set) and, to report, the Fashion-MNIST test set and the photo benchmark's shop and light-on-dark photos
(read once, as `bench/photo_share.py` reads them). Rows are appended to bench/results/NAME.json as they finish.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results
from photo_share import scoring_sets, top1

from shoplens.models.registry import register_model
from shoplens.models.shopnet import ShopNet
from shoplens.training.loop import train_model
from shoplens.training.presets import preset_config


@register_model
def shopnet_2x(
    num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28), **kw
) -> ShopNet:
    """2× shopnet's width (measured here, not a preset's)."""
    return ShopNet(num_classes, in_chans, img_size, widths=(32, 64, 128), final_width=256, **kw)


@register_model
def shopnet_w128(
    num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28), **kw
) -> ShopNet:
    """shopnet_wide's stages with shopnet's 128-wide embedding (measured here, not a preset's)."""
    return ShopNet(num_classes, in_chans, img_size, widths=(24, 48, 96), final_width=128, **kw)


def parse_variant(text: str) -> tuple[str, dict]:
    """NAME:key=json,key=json → (name, overrides)."""
    name, _, spec = text.partition(":")
    overrides = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    return name, overrides


def main() -> None:
    """Read the photo sets once, train and score each variant, write the rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("preset")
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--out", default="recipe_variants")
    args = parser.parse_args()

    train, val, preprocess, sets = scoring_sets(args.preset)
    path = RESULTS / f"{args.out}.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    for text in args.variants:
        name, overrides = parse_variant(text)
        cfg = preset_config(args.preset, **overrides)
        start = time.perf_counter()
        result = train_model(cfg, train, val, preprocess, progress=False)
        row = {
            "preset": args.preset,
            "name": name,
            "overrides": overrides,
            "model": cfg.model,
            "precision": result.precision,
            "epochs": len(result.history),
            "seconds": round(time.perf_counter() - start, 1),
            "images": result.images_seen,
        }
        row.update({key: top1(result.model, x, y, preprocess) for key, (x, y) in sets.items()})
        runs.append(row)
        print(json.dumps(row), flush=True)
        write_results(
            args.out,
            {
                "benchmark": "recipe_variants",
                "selection_set": ["validation", "training_side_renders"],
                "runs": runs,
                "machine": machine_info(),
            },
        )


if __name__ == "__main__":
    main()
