"""What shops lay over a finished product photo, drawn for the studio benchmark: a watermark, a logo plate, a
price tag or a frame line (`OVERLAYS`)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OVERLAYS = ("watermark", "logo", "price_tag", "frame")  # laid over the finished photo
SHOP_NAMES = ("SHOP.COM", "© modehaus", "www.style-store.example", "BRANDNAME", "outlet24", "LUXE")


def draw_overlay(img: Image.Image, kind: str, rng: np.random.Generator) -> dict:
    """Draw what a shop lays over the finished photo: a watermark, a logo plate, a price tag or a frame line."""
    w, h = img.size
    draw = ImageDraw.Draw(img, "RGBA")
    if kind == "frame":
        margin = round(float(rng.uniform(0.01, 0.04)) * min(w, h))
        width = max(1, round(float(rng.uniform(1, 4)) * min(w, h) / 600))
        colour = tuple(
            int(c) for c in rng.choice([(60, 60, 60), (150, 150, 150), (20, 40, 90), (140, 30, 40)])
        )
        draw.rectangle((margin, margin, w - 1 - margin, h - 1 - margin), outline=colour, width=width)
        return {"frame_margin": margin / min(w, h), "frame_width": width}
    if kind == "watermark":
        text = str(rng.choice(SHOP_NAMES))
        font = ImageFont.load_default(max(8, round(float(rng.uniform(0.03, 0.06)) * h)))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        where = str(rng.choice(["bottom", "top", "corner"]))
        x = (w - tw) // 2 if where != "corner" else w - tw - round(0.04 * w)
        y = round(0.03 * h) if where == "top" else h - th - round(0.04 * h)
        grey = int(rng.choice([90, 160, 250]))
        draw.text((x - left, y - top), text, fill=(grey, grey, grey, int(rng.uniform(128, 256))), font=font)
        return {"watermark": where}
    plate_w = round(float(rng.uniform(*((0.15, 0.3) if kind == "logo" else (0.12, 0.22)))) * w)
    plate_h = round(plate_w * float(rng.uniform(0.3, 0.5)))
    right_side, low = bool(rng.random() < 0.5), kind == "price_tag" or bool(rng.random() < 0.3)
    x = w - plate_w - round(0.03 * w) if right_side else round(0.03 * w)
    y = h - plate_h - round(0.03 * h) if low else round(0.03 * h)
    if kind == "logo":
        fill = tuple(int(c) for c in rng.integers(0, 200, 3))
        ink, text = (255, 255, 255), str(rng.choice(SHOP_NAMES))
        draw.rectangle((x, y, x + plate_w, y + plate_h), fill=fill)
    else:
        ink = (200, 0, 0) if rng.random() < 0.6 else (20, 20, 20)
        text = f"{rng.integers(5, 200)},99 EUR" if rng.random() < 0.5 else f"${rng.integers(5, 200)}.99"
        draw.rectangle((x, y, x + plate_w, y + plate_h), fill=(250, 250, 250), outline=(40, 40, 40), width=2)
    size = max(6, round(plate_h * 0.5))
    font = ImageFont.load_default(size)
    while size > 6 and draw.textlength(text, font=font) > 0.9 * plate_w:  # the letters stay on the plate
        size -= 1
        font = ImageFont.load_default(size)
    draw.text((x + 0.05 * plate_w, y + plate_h * 0.2), text, fill=ink, font=font)
    return {"corner": ("bottom " if low else "top ") + ("right" if right_side else "left")}
