"""Does averaging boosters fitted on halves of the calibration photos make the "not a product" detector better?

    .venv/bin/python bench/ood_bagging.py --bundle M/fashion-mnist/v5-fast        # ≈ 5 min → ood_bagging.{json,png}
    .venv/bin/python bench/ood_bagging.py --bundle B --bags 1,8 --seeds 0 --n 200 --shop 100 --out ood_bagging_smoke

For each number of boosters (`bags` of `fit_detector`) and each fitting seed, the bundle's detector is fitted as
`shoplens models refit-detector` fits it — on its validation garments rendered by the training-side renderer and
on synthetic non-products — and then scored twice:
- on the selection side: the out-of-bag measures `fit_detector` returns (each calibration photo scored by the
  boosters that did not see it; 2.5 % of the product photos flagged by construction);
- on the photo benchmark's shop photos and non-products (bench/photos.py's sets, read the way it reads them):
  non-products flagged and shop photos falsely flagged at the fitted threshold, AUROC, and the share of
  non-products flagged where 3 % of the shop photos would be.
The seeds decide the halves; the spread over seeds is how much a fit depends on which photos it got.
Writes bench/results/NAME.json and NAME.png (default ood_bagging).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results

from shoplens.data import load_fashion_mnist
from shoplens.data.non_products import non_product_photos
from shoplens.data.shop_photos import shop_photos
from shoplens.evaluation.photos import PhotoBenchConfig, active_bundle
from shoplens.inference.predictor import Predictor
from shoplens.models.bundle import load_bundle, read_bundle_spec
from shoplens.training.ood_fit import (
    BAGS,
    CALIBRATION_PHOTOS,
    auroc,
    calibration_photos,
    fit_detector,
    model_outputs,
    read_photos,
    validation_split,
)

FALSE_FLAG_BUDGET = 0.03  # issue 11's ceiling on shop photos falsely flagged


def benchmark_measures(scores_shop: np.ndarray, scores_non: np.ndarray, threshold: float) -> dict[str, float]:
    """Flagged and falsely flagged at the threshold, AUROC, and non-products flagged at 3 % false flags."""
    at_budget = float(np.quantile(scores_shop, 1 - FALSE_FLAG_BUDGET))
    return {
        "ood_flagged": float((scores_non >= threshold).mean()),
        "ood_false_flag": float((scores_shop >= threshold).mean()),
        "ood_auroc": auroc(scores_shop, scores_non),
        "flagged_at_3pct_false": float((scores_non > at_budget).mean()),
    }


def plot(summary: dict[str, dict], path: Path) -> None:
    """Benchmark AUROC and shares flagged against the number of boosters, mean ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bags = sorted(int(b) for b in summary)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, axis in (
        ("held_out_auroc", "calibration photos, out of bag", a),
        ("ood_auroc", "benchmark", a),
        ("ood_flagged", "non-products flagged", b),
        ("flagged_at_3pct_false", "non-products flagged at 3 % false flags", b),
        ("ood_false_flag", "shop photos falsely flagged", b),
    ):
        means = [summary[str(k)][key]["mean"] for k in bags]
        stds = [summary[str(k)][key]["std"] for k in bags]
        axis.errorbar(bags, means, yerr=stds, marker="o", capsize=3, label=label)
    a.set_title("AUROC")
    b.axhline(0.90, color="crimson", linestyle="--", linewidth=1, label="targets 0.90 / 0.03")
    b.axhline(0.03, color="crimson", linestyle="--", linewidth=1)
    b.set_title("Shares (benchmark)")
    for axis in (a, b):
        axis.set_xscale("log", base=2)
        axis.set_xticks(bags, [str(k) for k in bags])
        axis.set_xlabel("boosters averaged")
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    """Read the calibration and benchmark photos once, fit every (bags, seed), write the rows and a summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", default=None, help="a bundle folder (default: the active model)")
    parser.add_argument("--bags", default="1,2,4,8,16", help="numbers of boosters, comma-separated")
    parser.add_argument("--seeds", default="0,1,2,3", help="fitting seeds, comma-separated")
    parser.add_argument(
        "--n", type=int, default=CALIBRATION_PHOTOS, help="calibration products (and non-products)"
    )
    parser.add_argument("--shop", type=int, default=PhotoBenchConfig.shop, help="benchmark shop photos")
    parser.add_argument("--out", default="ood_bagging")
    args = parser.parse_args()
    try:
        bag_counts = [int(v) for v in args.bags.split(",")]
        seeds = [int(v) for v in args.seeds.split(",")]
    except ValueError:
        raise SystemExit("--bags and --seeds take comma-separated whole numbers") from None
    bundle = Path(args.bundle) if args.bundle else active_bundle()
    start = time.perf_counter()
    spec = read_bundle_spec(bundle)
    predictor = Predictor(load_bundle(bundle))
    preprocess = predictor.bundle.preprocess
    val, train_seed = validation_split(spec)
    products, outliers = calibration_photos(val.images, val.labels, preprocess, args.n, train_seed)
    config = PhotoBenchConfig()
    test = load_fashion_mnist("test")
    shop = list(shop_photos(test.images[:, 0], test.labels, args.shop, config.seed))
    others = list(non_product_photos(config.seed, config.non_product_variants, config.non_product_per_kind))
    shop_read = read_photos([p.data for p in shop], preprocess, [p.meta["label"] for p in shop])
    non_read = read_photos([p.data for p in others], preprocess, [-1] * len(others))
    shop_out, non_out = model_outputs(predictor, shop_read.arrays), model_outputs(predictor, non_read.arrays)
    read_s = time.perf_counter() - start
    print(
        f"read {len(products)} + {len(outliers)} calibration and {len(shop)} + {len(others)} benchmark photos "
        f"in {read_s:.0f} s",
        flush=True,
    )
    rows = []
    for bags in bag_counts:
        for seed in seeds:
            fit_start = time.perf_counter()
            detector, held = fit_detector(predictor, products, outliers, seed=seed, bags=bags)
            fit_s = time.perf_counter() - fit_start
            measures = benchmark_measures(
                detector.score(*shop_out, shop_read.cues),
                detector.score(*non_out, non_read.cues),
                detector.threshold,
            )
            rows.append(
                {
                    "bags": bags,
                    "seed": seed,
                    "held_out": {k: round(v, 4) for k, v in held.items()},
                    "benchmark": {k: round(v, 4) for k, v in measures.items()},
                    "fit_seconds": round(fit_s, 2),
                }
            )
            print(
                f"bags {bags:2d} seed {seed}: held-out AUROC {held['ood_auroc']:.4f} | benchmark "
                f"flagged {measures['ood_flagged']:.3f}, falsely flagged {measures['ood_false_flag']:.3f}, "
                f"AUROC {measures['ood_auroc']:.4f}, flagged at 3 % false {measures['flagged_at_3pct_false']:.3f}",
                flush=True,
            )
    summary = {}
    for bags in bag_counts:
        mine = [r for r in rows if r["bags"] == bags]
        columns = {"held_out_auroc": [r["held_out"]["ood_auroc"] for r in mine]}
        columns.update({k: [r["benchmark"][k] for r in mine] for k in mine[0]["benchmark"]})
        summary[str(bags)] = {
            k: {"mean": round(statistics.fmean(v), 4), "std": round(statistics.pstdev(v), 4)}
            for k, v in columns.items()
        }
    out = write_results(
        args.out,
        {
            "benchmark": "ood_bagging",
            "command": " ".join(["python", *sys.argv]),
            "bundle": str(bundle),
            "default_bags": BAGS,
            "counts": {
                "calibration": [len(products), len(outliers)],
                "shop": len(shop),
                "non_product": len(others),
            },
            "summary": summary,
            "runs": rows,
            "read_seconds": round(read_s, 1),
            "machine": machine_info(),
        },
    )
    plot(summary, RESULTS / f"{args.out}.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
