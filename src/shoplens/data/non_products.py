"""Photos that are not products, for measuring how well a classifier says "this is not one of mine".

Two halves, all offline and seeded:

- **Real pictures bundled with installed packages**: every PNG/JPEG in scikit-image's `skimage/data`
  folder (astronaut, cat, coffee, rocket, coins, moon, horse, text scans, microscopy, …; files that need a
  download are not there and are never fetched), scikit-learn's `load_sample_images` (china, flower) and
  matplotlib's `sample_data` folder. Each gives `variants` versions: the whole picture and random crops
  (40–90 % of each side), each at a random size (long side 200–1200 px), some in greyscale, as JPEG
  (quality 70–95) or PNG (transparency kept where the file has it). A package missing is skipped.
- **Synthetic pictures**, `per_kind` of each kind: procedural textures (fabric, wood, noise, paper),
  text (pages, receipts, slides, in matplotlib's DejaVu fonts), noise (Gaussian, uniform colour,
  salt-and-pepper, fractal, TV static), gradients (two or three colours, linear or radial), user-interface
  screenshots (bars, side panels, cards, buttons, text) and faces (scikit-image's bundled `lfw_subset.npy`,
  25×25 px, scaled up).

Every item's `meta` has `kind` (photo, graphic, document, scientific, texture, text, noise, gradient,
ui, face), `source` and `variant`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from shoplens.data.procedural import TEXTURES, EncodedPhoto, gradient, smooth_noise, to_uint8
from shoplens.data.ui_mockups import text_page, ui_screenshot

# Package pictures that are drawings, scans or instruments' images rather than camera photos.
KINDS = {
    "chessboard_GRAY": "graphic",
    "chessboard_RGB": "graphic",
    "color": "graphic",
    "logo": "graphic",
    "logo2": "graphic",
    "phantom": "graphic",
    "horse": "graphic",
    "Minduka_Present_Blue_Pack": "graphic",
    "page": "document",
    "text": "document",
    "cell": "scientific",
    "ihc": "scientific",
    "microaneurysms": "scientific",
    "retina": "scientific",
    "hubble_deep_field": "scientific",
    "moon": "scientific",
}
SYNTHETIC_KINDS = ("texture", "text", "noise", "gradient", "ui", "face")


def package_pictures() -> list[tuple[str, Image.Image]]:
    """(source, image) for every picture bundled with scikit-image, scikit-learn and matplotlib here."""
    found: list[tuple[str, Image.Image]] = []
    for folder, prefix in _package_folders():
        for path in sorted([*folder.glob("*.png"), *folder.glob("*.jpg")]):
            try:
                with Image.open(path) as img:
                    found.append((f"{prefix}/{path.stem}", img.convert("RGBA" if _has_alpha(img) else "RGB")))
            except OSError:
                continue  # a broken or placeholder file: not part of the set
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return found
    sample = load_sample_images()
    for name, pixels in zip(sample.filenames, sample.images):
        found.append((f"sklearn/{Path(name).stem}", Image.fromarray(pixels)))
    return found


def picture_variants(
    img: Image.Image, count: int, rng: np.random.Generator
) -> Iterator[tuple[str, Image.Image]]:
    """The whole picture, then random crops; each at a random size, some in greyscale."""
    for i in range(count):
        variant = "whole" if i == 0 else "crop"
        part = img if i == 0 else _random_crop(img, rng)
        long_side = int(rng.integers(200, 1201))
        scale = long_side / max(part.size)
        part = part.resize(
            (max(8, round(part.width * scale)), max(8, round(part.height * scale))), Image.LANCZOS
        )
        if part.mode == "RGB" and rng.random() < 0.2:
            part, variant = part.convert("L"), variant + "_grey"
        yield variant, part


def noise_picture(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """One of five kinds of noise at a random size."""
    h, w = (int(v) for v in rng.integers(200, 1000, 2))
    style = str(rng.choice(["gaussian", "colour", "salt_pepper", "fractal", "static"]))
    if style == "gaussian":
        grey = rng.normal(rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3), (h, w))
        return style, np.repeat(grey[..., None], 3, 2)
    if style == "colour":
        return style, rng.random((h, w, 3))
    if style == "salt_pepper":
        grey = np.full((h, w), rng.uniform(0.2, 0.8))
        dots = rng.random((h, w))
        share = rng.uniform(0.05, 0.3)
        grey[dots < share / 2], grey[dots > 1 - share / 2] = 0.0, 1.0
        return style, np.repeat(grey[..., None], 3, 2)
    if style == "fractal":
        channels = [smooth_noise(h, w, rng, rng.uniform(2, 40), 5) for _ in range(3)]
        return style, np.stack(channels, -1)
    lines = rng.random((h, 1)) * 0.3
    return style, np.repeat((rng.random((h, w)) * 0.8 + lines)[..., None], 3, 2)


def gradient_picture(rng: np.random.Generator) -> np.ndarray:
    """A linear or radial gradient between two or three random colours."""
    h, w = (int(v) for v in rng.integers(200, 1000, 2))
    colours = rng.random((3, 3)).astype(np.float32)
    first = gradient(h, w, rng, colours[0], colours[1])
    if rng.random() < 0.5:
        return first
    return (first + gradient(h, w, rng, colours[1], colours[2])) / 2


def face_pictures() -> np.ndarray:
    """The 100 face crops (25×25, 0..1) bundled with scikit-image, or an empty array without it."""
    try:
        import skimage
    except ImportError:
        return np.zeros((0, 25, 25), np.float32)
    path = Path(skimage.__file__).parent / "data" / "lfw_subset.npy"
    return np.load(path)[:100] if path.is_file() else np.zeros((0, 25, 25), np.float32)


def synthetic(kind: str, rng: np.random.Generator, faces: np.ndarray) -> tuple[str, Image.Image]:
    """One synthetic picture of a kind: (variant, image)."""
    if kind == "texture":
        name = str(rng.choice(list(TEXTURES)))
        h, w = (int(v) for v in rng.integers(200, 1000, 2))
        return name, Image.fromarray(to_uint8(TEXTURES[name](h, w, rng)))
    if kind == "text":
        return text_page(rng, _fonts())
    if kind == "noise":
        style, pixels = noise_picture(rng)
        return style, Image.fromarray(to_uint8(pixels))
    if kind == "gradient":
        return "gradient", Image.fromarray(to_uint8(gradient_picture(rng)))
    if kind == "ui":
        return ui_screenshot(rng, _fonts())
    face = faces[int(rng.integers(len(faces)))]
    side = int(rng.integers(120, 481))
    big = cv2.resize(face.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    return "lfw", Image.fromarray(to_uint8(np.clip(big, 0, 1)))


def non_product_photos(seed: int = 0, variants: int = 4, per_kind: int = 36) -> Iterator[EncodedPhoto]:
    """Every bundled picture in `variants` versions, then `per_kind` synthetic pictures of each kind."""
    for p, (source, img) in enumerate(package_pictures() if variants > 0 else []):
        rng = np.random.default_rng([seed, 10, p])
        name = source.split("/", 1)[1]
        for variant, version in picture_variants(img, variants, rng):
            yield _encoded(version, rng, kind=KINDS.get(name, "photo"), source=source, variant=variant)
    faces = face_pictures()
    for k, kind in enumerate(SYNTHETIC_KINDS):
        if kind == "face" and len(faces) == 0:
            continue
        for i in range(per_kind):
            rng = np.random.default_rng([seed, 11, k, i])
            variant, img = synthetic(kind, rng, faces)
            yield _encoded(img, rng, kind=kind, source="synthetic", variant=variant)


def _package_folders() -> list[tuple[Path, str]]:
    """Folders of bundled sample pictures of the packages installed here."""
    folders = []
    try:
        import skimage

        folders.append((Path(skimage.__file__).parent / "data", "skimage"))
    except ImportError:
        pass
    try:
        import matplotlib

        folders.append((Path(matplotlib.get_data_path()) / "sample_data", "matplotlib"))
    except ImportError:
        pass
    return [(folder, prefix) for folder, prefix in folders if folder.is_dir()]


def _fonts() -> list[Path]:
    """TrueType fonts shipped with matplotlib (DejaVu), if it is installed."""
    try:
        import matplotlib
    except ImportError:
        return []
    return sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVu*.ttf"))


def _has_alpha(img: Image.Image) -> bool:
    """Whether an image carries transparency."""
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _random_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random region of 40–90 % of each side."""
    w, h = img.size
    cw, ch = round(w * rng.uniform(0.4, 0.9)), round(h * rng.uniform(0.4, 0.9))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((left, top, left + cw, top + ch))


def _encoded(img: Image.Image, rng: np.random.Generator, **meta: str) -> EncodedPhoto:
    """JPEG (quality 70–95) seven times in ten, else PNG; transparency only survives as PNG."""
    buf = io.BytesIO()
    if img.mode not in ("RGBA", "LA") and rng.random() < 0.7:
        img.convert("RGB" if img.mode != "L" else "L").save(buf, "JPEG", quality=int(rng.integers(70, 96)))
    else:
        img.save(buf, "PNG", compress_level=1)
    return EncodedPhoto(
        buf.getvalue(), {"set": "non_product", **meta, "width": img.width, "height": img.height}
    )
