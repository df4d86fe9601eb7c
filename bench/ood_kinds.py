"""How well does a bundle's "not a product" detector catch kinds of non-products it was never fitted on?

    .venv/bin/python bench/ood_kinds.py --bundle var/models/fashion-mnist/v2-fast [--bundle B2 ...]
    .venv/bin/python bench/ood_kinds.py --bundle B --variant 'free:constrained=0' --variant 'cues:-max_prob,-entropy'

The detector is fitted on synthetic non-products from the training side (shoplens.training.outlier_synth), the
same families the model saw in its outlier exposure; the photos users send mistakenly are other families. This
selection check needs no benchmark photo: for each of the renderer's kinds in turn, the detector is fitted as
`fit_detector` fits it on the product photos and every *other* kind, its threshold set as always (2.5 % of the
product photos flagged, each scored by the boosters that did not see it), and then asked about the left-out kind.
The mean share flagged over the left-out kinds says how well the detector generalises to new kinds; the full fit's
out-of-bag AUROC is the usual check.

A variant is NAME:setting,... where a setting is `key=value` for the booster (TREES in shoplens.training.ood_boost;
`constrained=0` drops its monotone and no-interaction constraints) or `-feature` to leave a feature out. Photos are
read once per preprocessing, and shared by the bundles that read alike.
Writes bench/results/NAME.json (default ood_kinds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.inference.predictor import Predictor
from shoplens.models.bundle import load_bundle, read_bundle_spec
from shoplens.training.ood_fit import (
    CALIBRATION_PHOTOS,
    CALIBRATION_SIDES,
    DEFAULT_FEATURES,
    PhotoSet,
    fit_detector,
    model_outputs,
    product_photos,
    read_photos,
    validation_split,
)
from shoplens.training.outlier_synth import KINDS, render_outlier


def parse_variant(text: str) -> tuple[str, dict]:
    """NAME:key=value,-feature,... → (name, {"trees": {...}, "features": (...)})."""
    name, _, spec = text.partition(":")
    trees: dict[str, float] = {}
    features = list(DEFAULT_FEATURES)
    for item in filter(None, spec.split(",")):
        if item.startswith("-"):
            if item[1:] not in features:
                raise SystemExit(f"{item[1:]!r} is not a detector feature ({', '.join(DEFAULT_FEATURES)})")
            features.remove(item[1:])
        else:
            key, _, value = item.partition("=")
            trees[key] = float(value) if "." in value else int(value)
    return name, {"trees": trees, "features": tuple(features)}


def kind_outliers(preprocess, per_kind: int, rng: np.random.Generator) -> tuple[PhotoSet, np.ndarray]:
    """per_kind synthetic non-products of each training-side kind, read; and each one's kind index."""
    photos, kinds = [], []
    for k, kind in enumerate(KINDS):
        photos += [render_outlier(rng, sides=CALIBRATION_SIDES, kind=kind).encode() for _ in range(per_kind)]
        kinds += [k] * per_kind
    return read_photos(photos, preprocess, [-1] * len(photos)), np.asarray(kinds)


def evaluate(
    predictor: Predictor, products: PhotoSet, outliers: PhotoSet, kinds: np.ndarray, variant: dict
) -> dict:
    """The full fit's held-out measures, and each left-out kind's share flagged."""
    _, full = fit_detector(
        predictor, products, outliers, features=variant["features"], trees=variant["trees"]
    )
    left_out = {}
    for k, kind in enumerate(KINDS):
        rest, this = np.flatnonzero(kinds != k), np.flatnonzero(kinds == k)
        detector, _ = fit_detector(
            predictor, products, outliers.subset(rest), features=variant["features"], trees=variant["trees"]
        )
        probs, emb = model_outputs(predictor, outliers.arrays[this])
        scores = detector.score(probs, emb, [outliers.cues[i] for i in this])
        left_out[kind] = round(float((scores >= detector.threshold).mean()), 4)
    shares = list(left_out.values())
    return {
        "held_out": {k: round(v, 4) for k, v in full.items()},
        "left_out_kind_flagged": left_out,
        "left_out_mean": round(float(np.mean(shares)), 4),
        "left_out_min": round(float(np.min(shares)), 4),
    }


def main() -> None:
    """Read each bundle's calibration photos once, evaluate every variant, write the rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", action="append", required=True, help="a bundle folder (repeatable)")
    parser.add_argument("--variant", action="append", default=[], help="NAME:settings (repeatable)")
    parser.add_argument(
        "--n", type=int, default=CALIBRATION_PHOTOS, help="product photos, and as many non-products"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="ood_kinds")
    args = parser.parse_args()
    variants = [("as fitted", {"trees": {}, "features": DEFAULT_FEATURES})] + [
        parse_variant(v) for v in args.variant
    ]
    rows, reads = [], {}
    for path in args.bundle:
        start = time.perf_counter()
        spec = read_bundle_spec(path)
        predictor = Predictor(load_bundle(path))
        train = spec.config.get("train_config", {})
        preprocess = predictor.bundle.preprocess.to_dict()
        same = [preprocess, spec.config.get("data"), train.get("seed"), train.get("val_fraction")]
        key = json.dumps(same, sort_keys=True, default=str)
        if key not in reads:
            val, _ = validation_split(spec)
            rng = np.random.default_rng(args.seed)
            products = product_photos(val.images, val.labels, predictor.bundle.preprocess, args.n, rng)
            reads[key] = (products, *kind_outliers(predictor.bundle.preprocess, args.n // len(KINDS), rng))
        products, outliers, kinds = reads[key]
        read_s = time.perf_counter() - start
        for name, variant in variants:
            row = {
                "bundle": str(path),
                "architecture": spec.config.get("architecture"),
                "variant": name,
                "features": list(variant["features"]),
                "trees": variant["trees"],
                **evaluate(predictor, products, outliers, kinds, variant),
                "read_seconds": round(read_s, 1),
            }
            rows.append(row)
            print(
                f"{Path(path).name} {name}: held-out AUROC {row['held_out']['ood_auroc']:.4f}, "
                f"left-out kinds flagged mean {row['left_out_mean']:.3f} min {row['left_out_min']:.3f} "
                f"{row['left_out_kind_flagged']}",
                flush=True,
            )
    out = write_results(args.out, {"benchmark": "ood_kinds", "runs": rows, "machine": machine_info()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
