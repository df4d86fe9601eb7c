"""Large phone-size photos through classify's reading path: whole decode vs decode reduced to the reader's need.

    .venv/bin/python bench/large_photos.py                      # 60 JPEGs at 4000 px, the active model
    .venv/bin/python bench/large_photos.py --bundle PATH --photos 20 --side 3000
    .venv/bin/python bench/large_photos.py --format heic        # HEIC with a Display P3 profile, as iPhones save

Shop photos of Fashion-MNIST test garments (src/shoplens/data/shop_photos.py) are enlarged to `--side` pixels on
their longer side (12 megapixels at 4000 × 3000) and saved as JPEG quality 90, like a phone's (or, with
`--format heic`, as HEIC quality 90 carrying a Display P3 profile: HEVC has no reduced decode, so there the
reduced way is a whole decode shrunk before its colour is converted; encoding HEIC needs pillow-heif, a test
extra). Each photo is read both ways in turn — `decode_image` whole, then with `at_least=` the model's
`decode_side`, each followed by the model's own reading (`Predictor.read`) — so the ratio is measured in one run.
Also reported: whether both ways give the same category, and top-1 of each. Writes
bench/results/large_photos.json (large_photos_heic.json).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.images: the test P3 profile
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.data import load_fashion_mnist
from shoplens.data.shop_photos import shop_photos
from shoplens.evaluation.photos import active_bundle
from shoplens.imaging import decode_image
from shoplens.inference import load_predictor


def enlarged(data: bytes, side: int, fmt: str = "jpeg") -> bytes:
    """A rendered photo enlarged to `side` pixels on its longer side, as JPEG or HEIC (Display P3) quality 90."""
    img = decode_image(data).convert("RGB")
    scale = side / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    if fmt == "heic":
        import pillow_heif
        from tests.support.images import DISPLAY_P3  # a test profile: the repository's root is on the path

        img.info["icc_profile"] = DISPLAY_P3  # read as P3 both ways: the colours shift alike
        pillow_heif.from_pillow(img).save(buffer, quality=90)
    else:
        img.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> int:
    """Time both ways of reading each photo and write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", help="model bundle (default: the active version under var/models)")
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--side", type=int, default=4000, help="longer side of the enlarged photos")
    parser.add_argument("--format", choices=("jpeg", "heic"), default="jpeg", help="how the photos are saved")
    args = parser.parse_args()
    bundle = Path(args.bundle) if args.bundle else active_bundle()
    predictor = load_predictor(bundle)
    if predictor.decode_side is None:
        print(
            f"error: {bundle} reads whole photos (not the photo reader): nothing to compare", file=sys.stderr
        )
        return 2
    test = load_fashion_mnist("test")
    whole_ms, reduced_ms, same, right_whole, right_reduced, sizes = [], [], 0, 0, 0, []
    rendered = shop_photos(test.images[:, 0], test.labels, args.photos, seed=1)
    for photo in track(rendered, total=args.photos, description="photos"):
        data = enlarged(photo.data, args.side, args.format)
        sizes.append(len(data))
        answers = []
        for at_least, times in ((None, whole_ms), (predictor.decode_side, reduced_ms)):
            start = time.perf_counter()
            array, _cues = predictor.read(decode_image(data, at_least=at_least))
            times.append((time.perf_counter() - start) * 1000)
            answers.append(int(predictor.probabilities(array[None]).argmax()))
        same += answers[0] == answers[1]
        right_whole += answers[0] == photo.meta["label"]
        right_reduced += answers[1] == photo.meta["label"]
    n = len(sizes)
    payload = {
        "benchmark": "large_photos",
        "command": "python bench/large_photos.py " + " ".join(sys.argv[1:]),
        "model": {"path": str(bundle), "decode_side": predictor.decode_side},
        "photos": n,
        "side": args.side,
        "format": args.format,
        "file_mb_mean": round(float(np.mean(sizes)) / 1e6, 2),
        "whole_decode_read_ms_p50": round(statistics.median(whole_ms), 1),
        "reduced_decode_read_ms_p50": round(statistics.median(reduced_ms), 1),
        "speedup_p50": round(statistics.median(whole_ms) / statistics.median(reduced_ms), 2),
        "speedup_total": round(sum(whole_ms) / sum(reduced_ms), 2),
        "same_category": same / n,
        "top1_whole": right_whole / n,
        "top1_reduced": right_reduced / n,
        "machine": machine_info(),
    }
    path = write_results("large_photos" if args.format == "jpeg" else f"large_photos_{args.format}", payload)
    print(
        f"{path}: {n} photos, whole {payload['whole_decode_read_ms_p50']} ms vs reduced "
        f"{payload['reduced_decode_read_ms_p50']} ms per photo (p50, ×{payload['speedup_p50']}), "
        f"same category {payload['same_category']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
