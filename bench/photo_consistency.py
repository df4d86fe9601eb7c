"""Does a bundle give the same answer when the same photo is re-encoded, resized, cropped, lit or letterboxed?

    .venv/bin/python bench/photo_consistency.py --bundle B                 # the benchmark's shop photos (test garments)
    .venv/bin/python bench/photo_consistency.py --bundle B --set renders   # training-side renders (validation garments)

Each photo is read as it is and after each change below, through the same decode and reader as /v1/classify;
for every change: top-1 and the share of photos whose category stays what the unchanged photo got. Shops pad
photos to a square with white or black bars, re-save them, shrink them, crop them and lay a strip with their
name and a price across them; none of that should change the category. `--set renders` (the training renderer,
on the bundle's validation garments) is the one to choose reader settings on; the shop set (the photo
benchmark's renderer, test garments) reports.
Writes bench/results/photo_consistency[_renders].json.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results

from shoplens.data import load_fashion_mnist
from shoplens.data.shop_photos import shop_photos
from shoplens.imaging.decode import decode_image
from shoplens.imaging.preprocess import read_image
from shoplens.models import load_bundle
from shoplens.training.loop import predict_logits
from shoplens.training.ood_fit import CALIBRATION_SIDES, validation_split
from shoplens.training.photo_synth import render_photo


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return decode_image(buffer.getvalue())


def _on_canvas(img: Image.Image, size: tuple[int, int], fill: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, fill)
    canvas.paste(img.convert("RGB"), ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return canvas


def _square(img: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    side = max(img.size)
    return _on_canvas(img, (side, side), fill)


def _framed(img: Image.Image) -> Image.Image:
    corner = img.convert("RGB").getpixel((0, 0))
    return _on_canvas(img, (img.width * 6 // 5, img.height * 6 // 5), corner)


def _watermark(img: Image.Image) -> Image.Image:
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(10, out.height // 18)
    font = ImageFont.load_default(size=size)
    draw.text((out.width - 5 * size, out.height - 2 * size), "SHOP", fill=(128, 128, 128), font=font)
    return out


def _badge(img: Image.Image) -> Image.Image:
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    r = max(8, min(out.size) // 12)
    draw.ellipse((r // 2, r // 2, r // 2 + 2 * r, r // 2 + 2 * r), fill=(220, 30, 40))
    draw.text(
        (r // 2 + r // 2, r // 2 + r * 3 // 4),
        "SALE",
        fill=(255, 255, 255),
        font=ImageFont.load_default(size=r // 2),
    )
    return out


def _banner(img: Image.Image, at_top: bool, fill: tuple[int, int, int]) -> Image.Image:
    """The photo with a shop's strip added along it (a sixth of its height): its name and a price, in white."""
    depth = max(6, img.height // 6)
    out = Image.new("RGB", (img.width, img.height + depth), fill)
    out.paste(img.convert("RGB"), (0, depth if at_top else 0))
    top = 0 if at_top else img.height
    font = ImageFont.load_default(size=max(6, depth // 2))
    ImageDraw.Draw(out).text((depth // 3, top + depth // 4), "ACME  29.95", fill=(255, 255, 255), font=font)
    return out


CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "half_size": lambda im: im.resize(
        (max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.LANCZOS
    ),
    "jpeg_60": lambda im: _jpeg(im, 60),
    "cropped_5pct": lambda im: im.crop(
        (im.width // 20, im.height // 20, im.width * 19 // 20, im.height * 19 // 20)
    ),
    "brighter": lambda im: Image.eval(im.convert("RGB"), lambda v: min(255, int(v * 1.1 + 8))),
    "square_white_bars": lambda im: _square(im, (255, 255, 255)),
    "square_black_bars": lambda im: _square(im, (0, 0, 0)),
    "framed_in_corner_colour": _framed,
    "square_corner_bars": lambda im: _square(im, im.convert("RGB").getpixel((0, 0))),
    "grey_watermark_corner": _watermark,
    "red_sale_badge_corner": _badge,
    "navy_banner_top": lambda im: _banner(im, True, (25, 35, 80)),
    "red_banner_bottom": lambda im: _banner(im, False, (200, 30, 40)),
}


def photos(args, bundle) -> tuple[list[bytes], np.ndarray, list[str]]:
    """(encoded photos, labels, background of each) of the chosen set."""
    if args.set == "shop":
        test = load_fashion_mnist("test", None, verify=False)
        made = list(shop_photos(test.images[:, 0], test.labels, args.n, seed=args.seed))
        return (
            [p.data for p in made],
            np.array([p.meta["label"] for p in made]),
            [p.meta["background"] for p in made],
        )
    val, seed = validation_split(bundle, verify=False)
    rng = np.random.default_rng([seed, args.seed, 7])
    pick = rng.choice(len(val), size=min(args.n, len(val)), replace=False)
    rendered = [render_photo(val.images[i, 0], rng, sides=CALIBRATION_SIDES) for i in pick]
    return [r.encode() for r in rendered], val.labels[pick], ["rendered"] * len(pick)


def main() -> None:
    """Read every photo as it is and changed, classify, and write the agreement per change."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--set", choices=("shop", "renders"), default="shop")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    start = time.perf_counter()
    bundle = load_bundle(args.bundle)
    data, labels, backgrounds = photos(args, bundle)
    reads: dict[str, list[np.ndarray]] = {"unchanged": [], **{name: [] for name in CHANGES}}
    for raw in data:
        img = decode_image(raw)
        reads["unchanged"].append(read_image(img, bundle.preprocess)[0])
        for name, change in CHANGES.items():
            reads[name].append(read_image(change(img), bundle.preprocess)[0])
    tta = bundle.tta_flip
    preds = {
        k: predict_logits(bundle.model, np.stack(v), bundle.preprocess, tta).argmax(1)
        for k, v in reads.items()
    }
    base = preds["unchanged"]
    backgrounds = np.array(backgrounds)
    rows = {}
    for name, pred in preds.items():
        rows[name] = {
            "top1": round(float((pred == labels).mean()), 4),
            "same_as_unchanged": round(float((pred == base).mean()), 4),
            "same_by_background": {
                bg: round(float((pred[backgrounds == bg] == base[backgrounds == bg]).mean()), 3)
                for bg in sorted(set(backgrounds))
            },
        }
        print(
            f"{name:24s} top-1 {rows[name]['top1']:.3f}  same as unchanged {rows[name]['same_as_unchanged']:.3f}"
        )
    payload = {
        "bundle": str(args.bundle),
        "set": args.set,
        "photos": len(data),
        "seed": args.seed,
        "changes": rows,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine_info(),
    }
    write_results(args.out or ("photo_consistency" + ("_renders" if args.set == "renders" else "")), payload)


if __name__ == "__main__":
    main()
