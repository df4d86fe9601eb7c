"""Photo benchmark: Fashion-MNIST test garments rendered as shop photos, light-on-dark photos, non-products.

    .venv/bin/python bench/photos.py                          # the active model of var/models (≈ 1,650 photos)
    .venv/bin/python bench/photos.py --bundle PATH --out NAME  # another bundle → bench/results/NAME.{json,png}
    .venv/bin/python bench/photos.py --url http://127.0.0.1:8000 [--api-key KEY]   # a running server
    .venv/bin/python bench/photos.py --limit 12 --out photos_smoke                 # seconds

Every photo goes through the serving path (safe decode of the encoded bytes, the bundle's preprocessing,
the Predictor) or a server's /v1/classify. What the photos look like: src/shoplens/data/shop_photos.py and
non_products.py. Writes bench/results/photos.json and photos.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results

from shoplens.evaluation.photo_chart import plot_photo_benchmark
from shoplens.evaluation.photos import (
    FAILURES,
    LocalClassifier,
    PhotoBenchConfig,
    RemoteClassifier,
    active_bundle,
    bundle_summary,
    record_in_bundle,
    run_photo_benchmark,
)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", help="model bundle folder (default: the active version under --models-dir)")
    p.add_argument("--models-dir", default="var/models", help="model store root (default var/models)")
    p.add_argument("--url", help="classify through this server's /v1/classify instead of in-process")
    p.add_argument("--api-key", default=os.environ.get("SHOPLENS_API_KEY"), help="X-API-Key for --url")
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST files (default: the usual places)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shop", type=int, default=PhotoBenchConfig.shop, help="shop photos")
    p.add_argument(
        "--light-on-dark", type=int, default=PhotoBenchConfig.light_on_dark, help="light-on-dark photos"
    )
    p.add_argument("--limit", type=int, help="about this many photos per set, for a smoke run")
    p.add_argument("--out", default="photos", help="result name under bench/results (default photos)")
    return p.parse_args()


def main() -> int:
    """Run the benchmark and write its JSON and chart."""
    args = parse_args()
    if args.limit:
        config = PhotoBenchConfig.smoke(args.limit, args.seed)
    else:
        config = replace(PhotoBenchConfig(seed=args.seed), shop=args.shop, light_on_dark=args.light_on_dark)
    bundle = Path(args.bundle) if args.bundle else None
    try:
        if bundle is None and not args.url:
            bundle = active_bundle(args.models_dir)
        local = LocalClassifier(bundle) if bundle else None
        classify = RemoteClassifier(args.url, args.api_key) if args.url else local
        start = time.perf_counter()
        result, thumbs = run_photo_benchmark(classify, config, args.data_dir)
    except FAILURES as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = bundle_summary(bundle) if bundle else {}
    if args.url:
        model = {**model, "served": classify.model}
    payload = {
        "benchmark": "photos",
        "command": "python bench/photos.py " + " ".join(sys.argv[1:]),
        "via": f"{args.url}/v1/classify"
        if args.url
        else "in-process: decode_image → bundle preprocessing → Predictor",
        "model": model,
        "fashion_mnist_top1": local.fashion_mnist_top1(args.data_dir) if local else None,
        **result,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": machine_info(),
    }
    if local is None:
        payload["pending"]["fashion_mnist_top1"] = "measured on the test arrays with a bundle: pass --bundle"
    adopt_other_benchmarks(payload)
    path = write_results(args.out, payload)
    if bundle is not None and not args.url and not args.limit:  # a full run: the model card quotes it
        print(f"recorded in {record_in_bundle(bundle, payload)}")
    plot_photo_benchmark(payload, thumbs, RESULTS / f"{args.out}.png")
    print(
        f"{path}: shop {payload['shop_photo_top1']:.3f}, light-on-dark {payload['light_on_dark_top1']:.3f}, "
        f"ood AUROC {payload['ood_auroc']:.3f}, flagged {payload['ood_flagged']:.3f} "
        f"(shop photos {payload['ood_false_flag']:.3f}), {payload['wall_seconds']} s"
    )
    return 0


ADOPTED = {  # keys photos.json reports that other benchmarks measure, and where they are measured
    "colour_accuracy": "colours.json",  # bench/colours.py: named colour of rendered products of known colour
    "small_folder_top1": "small_folder.json",  # bench/small_folder.py: 3 classes × 60 photos, default preset
}


def adopt_other_benchmarks(payload: dict) -> None:
    """Fill the keys measured by other benchmarks from their result files (named in `adopted_from`)."""
    for key, name in ADOPTED.items():
        path = RESULTS / name
        if payload.get(key) is None and path.exists():
            payload[key] = json.loads(path.read_text())[key]
            payload.setdefault("adopted_from", {})[key] = f"bench/results/{name}"
            payload.get("pending", {}).pop(key, None)


if __name__ == "__main__":
    sys.exit(main())
