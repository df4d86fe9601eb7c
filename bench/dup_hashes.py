"""Which perceptual hash finds near-duplicate product photos: pHash vs an average hash of a trimmed view.

    .venv/bin/python bench/dup_hashes.py      # → bench/results/dup_hashes.json

2,000 Fashion-MNIST test photos (shop style) and a near-duplicate of each made as the demo catalogue makes
them (re-framed 1–2 px off centre, gamma 0.8–1.25, JPEG 85–95). For each hash: the distance between a photo
and its copy (percentiles), the share of copies within a few bits, and how many other photos fall within
the same distance (the candidates a duplicate check must then confirm).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.catalog.demo import near_duplicate, shop_photo
from shoplens.data import load_fashion_mnist
from shoplens.imaging import decode_image
from shoplens.imaging.hashing import canonical_view, hamming_distances, perceptual_hash, to_signed


def average_hash(view: np.ndarray) -> int:
    """64-bit average hash of a canonical view: 8×8 block means above their mean."""
    side = view.shape[0]
    blocks = view.astype(np.float32).reshape(8, side // 8, 8, side // 8).mean(axis=(1, 3)).ravel()
    return to_signed(int.from_bytes(np.packbits(blocks > blocks.mean()).tobytes(), "big"))


HASHES = {
    "phash_whole_photo": perceptual_hash,
    "phash_trimmed_view": lambda im: perceptual_hash(Image.fromarray(canonical_view(im))),
    "average_hash_trimmed_view": lambda im: average_hash(canonical_view(im)),
}


def main() -> None:
    """Measure every hash on the same photos and copies."""
    test = load_fashion_mnist("test", verify=False)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(test), 2000, replace=False)
    photos = [shop_photo(test.images[i]) for i in idx]
    copies = [decode_image(near_duplicate(p, rng)) for p in photos]
    results = {}
    for name, fn in HASHES.items():
        a = np.array([fn(p) for p in photos], np.int64)
        b = np.array([fn(c) for c in copies], np.int64)
        dist = np.array([hamming_distances(int(x), np.array([y]))[0] for x, y in zip(a, b)])
        entry = {
            "copy_distance_percentiles": dict(
                zip(("p50", "p90", "p95", "p99"), np.percentile(dist, [50, 90, 95, 99]).tolist())
            )
        }
        for bits in (4, 6, 8, 12):
            others = np.mean([(hamming_distances(int(a[k]), a) <= bits).sum() - 1 for k in range(300)])
            entry[f"within_{bits}_bits"] = {
                "copies_found": float((dist <= bits).mean()),
                "other_photos_per_photo": float(others),
            }
        results[name] = entry
        print(name, entry)
    write_results("dup_hashes", {"machine": machine_info(), "photos": len(photos), "hashes": results})


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()  # no options: --help says what it measures instead of running it
