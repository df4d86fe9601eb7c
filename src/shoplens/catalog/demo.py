"""A demo catalogue from Fashion-MNIST test images, with seeded wrong categories and near-duplicates as ground truth.

Each product photo is a test image drawn shop-style (dark product on white). A few percent of products declare a
wrong category, and a few percent are near-duplicates of another merchant's product (shifted by a pixel or two,
brighter or darker, re-encoded as JPEG). `truth.json` lists both, for the catalogue benchmark.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BRANDS = (
    "Nordvik",
    "Aurel",
    "Kestrel",
    "Lumo",
    "Brava",
    "Tessa",
    "Oakhaven",
    "Miro",
    "Sable",
    "Verde",
    "Halcyon",
    "Ivo",
    "Juno",
    "Kaia",
    "Lark",
    "Moss",
    "Nova",
    "Orla",
    "Pike",
    "Quill",
)
STYLES = (
    "Classic",
    "Everyday",
    "Urban",
    "Soft",
    "Relaxed",
    "Slim",
    "Vintage",
    "Essential",
    "Studio",
    "Weekend",
)
PRICE_RANGE = {  # euros, by Fashion-MNIST class
    "T-shirt/top": (9, 35),
    "Trouser": (25, 90),
    "Pullover": (25, 110),
    "Dress": (30, 160),
    "Coat": (60, 300),
    "Sandal": (20, 90),
    "Shirt": (20, 80),
    "Sneaker": (40, 160),
    "Bag": (25, 250),
    "Ankle boot": (50, 220),
}


@dataclass(frozen=True)
class DemoConfig:
    """Size and seeded faults of the demo catalogue."""

    products: int = 10_000
    merchants: int = 20
    wrong_category_rate: float = 0.03
    duplicate_rate: float = 0.02
    seed: int = 0


def shop_photo(image: np.ndarray) -> Image.Image:
    """A Fashion-MNIST image (28×28, bright product on black) as a shop photo: dark product on white."""
    return Image.fromarray(255 - image.reshape(28, 28).astype(np.uint8), "L")


def near_duplicate(photo: Image.Image, rng: np.random.Generator, margin: int = 2) -> bytes:
    """A re-listing of a photo: reframed (the product 1–2 pixels off centre on a slightly larger white canvas),
    brighter or darker (gamma 0.8–1.25, which keeps the white background white), re-encoded as JPEG."""
    dx, dy = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(1, margin + 1, size=2))
    framed = Image.new("L", (photo.width + 2 * margin, photo.height + 2 * margin), 255)
    framed.paste(photo, (margin + dx, margin + dy))
    gamma = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    changed = framed.point([round(255 * (v / 255) ** gamma) for v in range(256)])
    buf = io.BytesIO()
    changed.save(buf, "JPEG", quality=int(rng.integers(85, 96)))
    return buf.getvalue()


def write_demo_catalog(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    out: Path,
    config: DemoConfig = DemoConfig(),
) -> Path:
    """Write images/, manifest.csv and truth.json under `out`; returns the manifest's path."""
    rng = np.random.default_rng(config.seed)
    n_dup = round(config.products * config.duplicate_rate)
    n_orig = min(config.products - n_dup, len(images))
    merchants = [f"m{i:02d}" for i in range(config.merchants)]
    (out / "images").mkdir(parents=True, exist_ok=True)
    order = rng.permutation(len(images))[:n_orig]
    wrong = set(
        rng.choice(n_orig, size=round(config.products * config.wrong_category_rate), replace=False).tolist()
    )
    rows, truth_wrong, truth_dups = [], [], []
    for n, idx in enumerate(order):
        label = class_names[labels[idx]]
        merchant = merchants[n % len(merchants)]
        declared = label
        if n in wrong:
            declared = class_names[int(rng.choice([c for c in range(len(class_names)) if c != labels[idx]]))]
            truth_wrong.append(f"{merchant}/FM{idx:05d}")
        path = out / "images" / f"FM{idx:05d}.png"
        shop_photo(images[idx]).save(path, "PNG")
        rows.append(_row(merchant, f"FM{idx:05d}", label, declared, path.name, rng))
    for n in rng.choice(n_orig, size=n_dup, replace=False):
        idx, owner = order[n], merchants[n % len(merchants)]
        other = merchants[
            (n % len(merchants) + 1 + int(rng.integers(0, len(merchants) - 1))) % len(merchants)
        ]
        path = out / "images" / f"FM{idx:05d}-dup.jpg"
        path.write_bytes(near_duplicate(shop_photo(images[idx]), rng))
        label = class_names[labels[idx]]
        rows.append(_row(other, f"FM{idx:05d}-R", label, label, path.name, rng))
        truth_dups.append([f"{owner}/FM{idx:05d}", f"{other}/FM{idx:05d}-R"])
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["merchant", "sku", "title", "brand", "price", "category", "stock", "image", "true_category"]
        )
        writer.writerows(rows)
    truth = {"wrong_category": sorted(truth_wrong), "duplicates": truth_dups, "config": config.__dict__}
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return manifest


def _row(
    merchant: str, sku: str, label: str, declared: str, image: str, rng: np.random.Generator
) -> list[str]:
    """One manifest row with a generated title, brand, price and stock."""
    brand = BRANDS[int(rng.integers(len(BRANDS)))]
    lo, hi = PRICE_RANGE.get(label, (10, 100))
    price = f"{rng.uniform(lo, hi):.2f}"
    title = f"{brand} {STYLES[int(rng.integers(len(STYLES)))]} {label.split('/')[0]}"
    return [
        merchant,
        sku,
        title,
        brand,
        price,
        declared,
        str(int(rng.integers(0, 50))),
        f"images/{image}",
        label,
    ]
