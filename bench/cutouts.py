"""Cut-outs: test garments on a transparent background, read with their transparency and flattened onto white.

    .venv/bin/python bench/cutouts.py                       # the active model, 300 cut-outs (≈ 2 min)
    .venv/bin/python bench/cutouts.py --bundle PATH --count 100

Shops often export product shots as cut-outs: PNGs whose background is transparent. Each garment is drawn by
the shop-photo renderer (src/shoplens/data/shop_photos.py: colour, shading, tilt, blur, noise; the backdrop
and its shadow fall outside the alpha and vanish) and stored twice: as an RGBA PNG, and as the same picture
composited onto white (what a reader that ignores transparency sees). Both go through the serving path.
Writes bench/results/cutouts.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.data import load_fashion_mnist
from shoplens.data.procedural import encode_png
from shoplens.data.shop_photos import garment_order, render, sample_spec
from shoplens.evaluation.photos import active_bundle
from shoplens.imaging import decode_image
from shoplens.inference import load_predictor


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", help="model bundle folder (default: the active version under --models-dir)")
    p.add_argument("--models-dir", default="var/models", help="model store root (default var/models)")
    p.add_argument("--count", type=int, default=300, help="cut-outs (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="cutouts", help="result name under bench/results (default cutouts)")
    return p.parse_args()


def cutout_pair(image28: np.ndarray, spec_seed: list[int]) -> tuple[bytes, bytes, str]:
    """(RGBA PNG, the same flattened onto white as RGB PNG, the garment's colour name) of one garment."""
    spec = sample_spec(np.random.default_rng(spec_seed))
    pixels, alpha, _ = render(image28, spec)
    rgba = Image.fromarray(np.dstack([pixels, np.round(alpha * 255).astype(np.uint8)]), "RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return encode_png(rgba), encode_png(Image.alpha_composite(white, rgba).convert("RGB")), spec.colour


def main() -> int:
    """Read every cut-out both ways and write the comparison."""
    args = parse_args()
    bundle = Path(args.bundle) if args.bundle else active_bundle(args.models_dir)
    predictor = load_predictor(bundle)
    test = load_fashion_mnist("test")
    order = garment_order(len(test.labels), args.seed)[: args.count]
    labels = predictor.bundle.labels
    rows = []
    start = time.perf_counter()
    for i in track(range(len(order)), description="cut-outs"):
        index = int(order[i])
        pair = cutout_pair(test.images[index, 0], [args.seed, 3, i])
        row = {"label": labels[int(test.labels[index])], "colour": pair[2]}
        for name, data in (("alpha", pair[0]), ("flattened", pair[1])):
            arrays, cues = predictor.read_batch([decode_image(data, at_least=predictor.decode_side)])
            prediction = predictor.predict_arrays(arrays, cues=cues)[0]
            row[name] = {"right": prediction.label == row["label"], "status": prediction.status}
        rows.append(row)

    def share(name: str, pick, key: str = "right") -> dict:
        chosen = [r for r in rows if pick(r)]
        if key == "right":
            value = np.mean([r[name]["right"] for r in chosen]) if chosen else None
        else:
            value = np.mean([r[name]["status"] == "not_recognised" for r in chosen]) if chosen else None
        return {"n": len(chosen), key: None if value is None else round(float(value), 4)}

    light = {"white", "beige", "light blue", "yellow", "pink", "grey"}
    payload = {
        "benchmark": "cutouts",
        "command": "python bench/cutouts.py " + " ".join(sys.argv[1:]),
        "model": str(bundle),
        "count": len(rows),
        "top1_with_alpha": share("alpha", lambda r: True)["right"],
        "top1_flattened": share("flattened", lambda r: True)["right"],
        "light_garments": {
            "with_alpha": share("alpha", lambda r: r["colour"] in light),
            "flattened": share("flattened", lambda r: r["colour"] in light),
        },
        "white_garments": {
            "with_alpha": share("alpha", lambda r: r["colour"] == "white"),
            "flattened": share("flattened", lambda r: r["colour"] == "white"),
        },
        "not_recognised": {
            "with_alpha": share("alpha", lambda r: True, "flagged")["flagged"],
            "flattened": share("flattened", lambda r: True, "flagged")["flagged"],
        },
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine_info(),
    }
    path = write_results(args.out, payload)
    print(
        f"{path}: top-1 {payload['top1_with_alpha']:.3f} with alpha, {payload['top1_flattened']:.3f} "
        f"flattened; white garments {payload['white_garments']['with_alpha']['right']} vs "
        f"{payload['white_garments']['flattened']['right']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
