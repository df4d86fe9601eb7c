"""How much of the shop-photo gap is the product mask? Each shop photo read by the reader, and again with the
renderer's own garment mask in place of the reader's.

    .venv/bin/python bench/mask_oracle.py --bundle B            # 1,000 benchmark shop photos, ≈ 3 min

The photos are the photo benchmark's (`data/shop_photos.py`, test garments, seed 0), stored upright (no EXIF
turn) but otherwise as it renders them, JPEG included. The second read swaps only the mask that
`imaging.foreground.separate` returns for the renderer's alpha (> 0.5) at the working copy's size; background,
intensity, tilt and fitting stay the reader's. The difference in top-1 is what a perfect mask would add; the
IoU of the reader's mask against the renderer's says where masks fail. An instrument only: the renderer's mask
exists for rendered photos alone. Writes bench/results/mask_oracle.{json,png}.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_results

import shoplens.imaging.photo as photo
from shoplens.data import load_fashion_mnist
from shoplens.data.procedural import encode_jpeg
from shoplens.data.shop_photos import garment_order, render, sample_spec
from shoplens.imaging.decode import decode_image
from shoplens.inference.runtime import load_predictor

IOU_BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


class MaskSwap:
    """Stands in for `separate` inside the reader: measures its mask's IoU and, when told, returns the truth."""

    def __init__(self) -> None:
        self.separate = photo.separate
        self.alpha: np.ndarray | None = None
        self.swap = False
        self.iou = 0.0

    def __call__(self, rgb: np.ndarray, refine: bool = True):
        background, fg = self.separate(rgb, refine)
        truth = cv2.resize(self.alpha, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA) > 0.5
        if self.swap:
            return background, replace(fg, mask=truth)
        self.iou = float((truth & fg.mask).sum() / max(1, (truth | fg.mask).sum()))
        return background, fg


def _rate(ok: np.ndarray, keys: np.ndarray) -> dict[str, dict[str, float]]:
    return {
        str(k): {"n": int((keys == k).sum()), "top1": round(float(ok[keys == k].mean()), 4)}
        for k in np.unique(keys)
    }


def main() -> None:
    """Read every shop photo both ways, classify, and write top-1 per condition and the masks' IoU."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default="mask_oracle")
    args = ap.parse_args()
    start = time.perf_counter()
    predictor = load_predictor(args.bundle)
    labels, side = predictor.bundle.labels, predictor.bundle.preprocess.decode_side
    test = load_fashion_mnist("test", None, verify=False)
    order = garment_order(len(test.images), 0)
    swap = MaskSwap()
    photo.separate = swap
    reads = {False: [], True: []}
    truth, ious, colours, backdrops = [], [], [], []
    for i in track(range(args.n), description="photos"):
        spec = sample_spec(np.random.default_rng([0, 1, i]))
        pixels, alpha, _ = render(test.images[order[i], 0], spec)
        img = decode_image(encode_jpeg(pixels, spec.jpeg_quality), at_least=side)
        swap.alpha = alpha
        for swapped in (False, True):
            swap.swap = swapped
            reads[swapped].append(photo.read_photo(img))
        truth.append(int(test.labels[order[i]]))
        ious.append(swap.iou)
        colours.append(spec.colour)
        backdrops.append(spec.background)
    photo.separate = swap.separate
    ok = {}
    for swapped, found in reads.items():
        batch = np.stack([r.array for r in found])
        preds = predictor.predict_arrays(batch, cues=[r.cues for r in found])
        ok[swapped] = np.array([p.label == labels[t] for p, t in zip(preds, truth)])
    iou, colours, backdrops = np.array(ious), np.array(colours), np.array(backdrops)
    bands = np.array(
        [next(f"{lo:.1f}-{min(hi, 1.0):.1f}" for lo, hi in IOU_BANDS if lo <= v < hi) for v in iou]
    )
    payload = {
        "bundle": str(args.bundle),
        "photos": args.n,
        "reader_top1": round(float(ok[False].mean()), 4),
        "true_mask_top1": round(float(ok[True].mean()), 4),
        "mean_iou": round(float(iou.mean()), 4),
        "by": {
            name: {"reader": _rate(ok[False], keys), "true_mask": _rate(ok[True], keys)}
            | {"mean_iou": {str(k): round(float(iou[keys == k].mean()), 3) for k in np.unique(keys)}}
            for name, keys in (("colour", colours), ("background", backdrops), ("iou_band", bands))
        },
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine_info(),
    }
    path = write_results(args.out, payload)
    _chart(payload, RESULTS / f"{args.out}.png")
    print(
        f"{path}: reader {payload['reader_top1']:.3f}, with the renderer's masks {payload['true_mask_top1']:.3f}, "
        f"mean IoU {payload['mean_iou']:.3f}"
    )


def _chart(payload: dict, path: Path) -> None:
    """Top-1 per garment colour and per backdrop, the reader's masks against the renderer's."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.3]})
    for ax, name in zip(axes, ("colour", "background")):
        by = payload["by"][name]
        keys = list(by["reader"])
        x = np.arange(len(keys))
        ax.bar(x - 0.2, [by["reader"][k]["top1"] for k in keys], 0.4, label="the reader's mask")
        ax.bar(x + 0.2, [by["true_mask"][k]["top1"] for k in keys], 0.4, label="the renderer's mask")
        ax.set_xticks(x, keys, rotation=45, ha="right")
        ax.set_ylim(0.5, 1.0)
        ax.set_title(f"top-1 by {name}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left")
    fig.suptitle(
        f"{payload['photos']} shop photos: reader {payload['reader_top1']:.3f}, "
        f"with the renderer's masks {payload['true_mask_top1']:.3f} (mean IoU {payload['mean_iou']:.3f})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
