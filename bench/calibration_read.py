"""Time reading a bundle's calibration photos in this process against on every CPU's worker, paired in one run.

    .venv/bin/python bench/calibration_read.py                        # 2,000 products + 2,000 non-products, 2 rounds
    .venv/bin/python bench/calibration_read.py --photos 500 --rounds 3

Training reads photos of its validation garments and as many synthetic non-products to fit the "not a product"
detector and the search projection (`training/ood_fit.calibration_photos`). This renders them once, as training does
(Fashion-MNIST test garments stand in for the validation split), then times reading them
(`imaging.preprocess.read_encoded`) both ways, alternating: in this process (how `ood_fit.read_photos` read them
before; numpy's OpenBLAS free to start its threads) and through `shoplens.processes.map_in_workers` (a spawned worker
per usable CPU, one BLAS thread each, as it reads them now). Both must read every photo identically, array and cues.
Writes bench/results/calibration_read.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results


def main() -> None:
    """Render, read both ways, compare, write the results."""
    from shoplens.data import load_fashion_mnist
    from shoplens.imaging.preprocess import read_encoded
    from shoplens.processes import map_in_workers, usable_cpus
    from shoplens.training import ood_fit
    from shoplens.training.outlier_synth import render_outlier
    from shoplens.training.photo_synth import render_photo
    from shoplens.training.pipeline import DataSource, preprocess_for
    from shoplens.training.presets import preset_config

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos", type=int, default=ood_fit.CALIBRATION_PHOTOS, help="products (and non-products)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="calibration_read")
    args = parser.parse_args()
    preprocess = preprocess_for(DataSource(), preset_config("fast"))  # the default bundle's reading
    test = load_fashion_mnist("test", verify=False)
    rng = np.random.default_rng(0)
    sides = ood_fit.CALIBRATION_SIDES
    photos = [render_photo(test.images[i, 0], rng, sides=sides).encode() for i in range(args.photos)]
    photos += [render_outlier(rng, sides=sides).encode() for _ in range(args.photos)]
    read = partial(read_encoded, cfg=preprocess)
    ways = {
        "this_process": lambda: [read(p) for p in photos],  # how read_photos read them before
        "workers": lambda: map_in_workers(read, photos, usable_cpus()),  # how it reads them now
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    reads = {}
    for _ in range(args.rounds):
        for way, run in ways.items():
            start = time.perf_counter()
            reads[way] = run()
            times[way].append(time.perf_counter() - start)
    same = all(
        np.array_equal(a, b) and ca == cb
        for (a, ca), (b, cb) in zip(reads["this_process"], reads["workers"], strict=True)
    )
    median = {way: statistics.median(t) for way, t in times.items()}
    results = {
        "machine": machine_info(),
        "photos": len(photos),
        "workers": usable_cpus(),
        "seconds": {way: [round(t, 2) for t in ts] for way, ts in times.items()},
        "median_seconds": {way: round(t, 2) for way, t in median.items()},
        "ratio_workers_to_this_process": round(median["workers"] / median["this_process"], 3),
        "reads_identical": same,
        "command": "python bench/calibration_read.py " + " ".join(sys.argv[1:]),
    }
    print({k: v for k, v in results.items() if k != "machine"})
    write_results(args.out, results)
    if not same:
        sys.exit("the workers read the photos differently")


if __name__ == "__main__":
    main()
