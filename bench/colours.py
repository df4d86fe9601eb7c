"""Named-colour accuracy: rendered product photos whose garment colour is known.

    .venv/bin/python bench/colours.py          # 3 kinds × 100 photos → bench/results/colours.json

The photos are the small-folder benchmark's renderer (src/shoplens/data/product_shapes.py): a cap, scarf or
tote in one of 9 clothing colours with shading, on light plain, gradient or fabric backgrounds, JPEG. A photo
counts as right when the first (largest) dominant colour's name is the name of the colour it was drawn in.
"""

from __future__ import annotations

import io
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.data.product_shapes import SHAPES, render_product_coloured
from shoplens.imaging.colour import dominant_colours

PER_KIND = 100


def main() -> None:
    """Score every photo and write bench/results/colours.json."""
    right, confusions, seconds = 0, Counter(), 0.0
    for c, kind in enumerate(SHAPES):
        for i in range(PER_KIND):
            data, expected = render_product_coloured(kind, 9_000_000 + c * 10_007 + i)
            rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            start = time.perf_counter()
            got = dominant_colours(rgb)[0].name
            seconds += time.perf_counter() - start
            right += got == expected
            if got != expected:
                confusions[f"{expected} → {got}"] += 1
    n = PER_KIND * len(SHAPES)
    payload = {
        "what": f"{n} rendered product photos in 9 known clothing colours; right = the first dominant colour's name",
        "colour_accuracy": right / n,
        "photos": n,
        "confusions": dict(confusions.most_common()),
        "colour_ms_per_photo": round(1000 * seconds / n, 2),  # dominant_colours on the decoded photo
        "machine": machine_info(),
    }
    print(f"colour_accuracy {payload['colour_accuracy']:.3f} → {write_results('colours', payload)}")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()  # no options: --help says what it measures instead of running it
