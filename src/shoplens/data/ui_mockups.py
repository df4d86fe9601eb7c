"""Drawn pictures of text and screens (pages, receipts, slides, app and web layouts) for the non-product set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
LETTERS = "etaoinshrdlucmfwypvbgkjqxz"
LETTER_WEIGHTS = np.array(
    [12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1], float
)


def pseudo_text(rng: np.random.Generator, words: int) -> str:
    """Words of random letters with English-like letter frequencies, some capitalised, some punctuated."""
    out = []
    for i in range(words):
        n = int(rng.integers(1, 10))
        word = "".join(rng.choice(list(LETTERS), n, p=LETTER_WEIGHTS / LETTER_WEIGHTS.sum()))
        if i == 0 or rng.random() < 0.08:
            word = word.capitalize()
        if rng.random() < 0.1:
            word += str(rng.choice([".", ",", ":", ";"]))
        out.append(word)
    return " ".join(out)


def font(
    fonts: list[Path], size: int, rng: np.random.Generator
) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A random font of the given list at `size` px, or Pillow's built-in one."""
    if fonts:
        return ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size)
    return ImageFont.load_default(size=size)


def text_page(rng: np.random.Generator, fonts: list[Path]) -> tuple[str, Image.Image]:
    """A document page, a till receipt or a presentation slide."""
    style = str(rng.choice(["page", "receipt", "slide"]))
    if style == "receipt":
        width, height, paper, ink = (
            int(rng.integers(220, 360)),
            int(rng.integers(500, 1000)),
            (250, 250, 246),
            (40, 40, 40),
        )
    elif style == "slide":
        width, height = int(rng.integers(640, 1280)), 0
        height = round(width * 9 / 16)
        paper = tuple(int(v) for v in rng.integers(0, 256, 3))
        ink = (255, 255, 255) if sum(paper) < 384 else (20, 20, 20)
    else:
        width, height = int(rng.integers(400, 900)), 0
        height = round(width * 1.414)
        dark = rng.random() < 0.2
        paper, ink = ((30, 30, 34), (220, 220, 220)) if dark else ((252, 251, 247), (25, 25, 25))
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    margin = round(width * rng.uniform(0.06, 0.12))
    size = max(9, round(width / rng.uniform(30, 55)))
    if style == "slide":
        size *= 2
    y = margin
    title = font(fonts, round(size * rng.uniform(1.4, 2.2)), rng)
    draw.text((margin, y), pseudo_text(rng, int(rng.integers(2, 6))), fill=ink, font=title)
    y += round(size * 3.2)
    body = font(fonts, size, rng)
    while y < height - margin - size:
        line_words = int(rng.integers(1, 4)) if style == "slide" else int(rng.integers(3, 12))
        draw.text(
            (margin + (size * 2 if style == "slide" else 0), y),
            pseudo_text(rng, line_words),
            fill=ink,
            font=body,
        )
        y += round(size * (2.0 if style == "slide" else 1.45))
        if rng.random() < 0.12:
            y += size  # paragraph break
    return style, img


def ui_screenshot(rng: np.random.Generator, fonts: list[Path]) -> tuple[str, Image.Image]:
    """A desktop or phone screen: a bar, maybe a side panel, cards with pictures, text and buttons."""
    phone = rng.random() < 0.4
    width, height = (int(rng.integers(300, 430)), 0) if phone else (int(rng.integers(800, 1440)), 0)
    height = round(width * (2.16 if phone else rng.uniform(0.56, 0.75)))
    dark = rng.random() < 0.3
    page: Colour = (24, 24, 28) if dark else (246, 247, 250)
    card: Colour = (40, 40, 46) if dark else (255, 255, 255)
    ink: Colour = (230, 230, 235) if dark else (30, 32, 40)
    accent: Colour = tuple(int(v) for v in rng.integers(30, 230, 3))
    img = Image.new("RGB", (width, height), page)
    draw = ImageDraw.Draw(img)
    bar = round(height * (0.07 if phone else 0.08))
    draw.rectangle((0, 0, width, bar), fill=accent)
    small = font(fonts, max(10, bar // 3), rng)
    draw.text((bar // 2, bar // 3), pseudo_text(rng, 2), fill=(255, 255, 255), font=small)
    left = 0
    if not phone and rng.random() < 0.6:
        left = round(width * rng.uniform(0.15, 0.22))
        draw.rectangle((0, bar, left, height), fill=card)
        for k in range(int(rng.integers(4, 10))):
            draw.text((16, bar + 24 + k * 34), pseudo_text(rng, 2), fill=ink, font=small)
    columns = 1 if phone else int(rng.integers(2, 5))
    gap = 16
    cell_w = (width - left - gap * (columns + 1)) // columns
    cell_h = round(cell_w * rng.uniform(0.8, 1.3))
    y = bar + gap
    while y + cell_h < height:
        for c in range(columns):
            x = left + gap + c * (cell_w + gap)
            _card(draw, (x, y, x + cell_w, y + cell_h), card, ink, accent, rng, small)
        y += cell_h + gap
    return "phone" if phone else "desktop", img


def _card(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    fill: Colour,
    ink: Colour,
    accent: Colour,
    rng: np.random.Generator,
    text_font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    """A rounded card with a picture placeholder, two lines of text and a button."""
    x0, y0, x1, y1 = box
    draw.rounded_rectangle(box, radius=10, fill=fill, outline=tuple(max(0, v - 20) for v in fill))
    pic = y0 + round((y1 - y0) * 0.55)
    tint = tuple(int(v) for v in rng.integers(60, 230, 3))
    draw.rectangle((x0 + 8, y0 + 8, x1 - 8, pic), fill=tint)
    if rng.random() < 0.5:
        r = (pic - y0) // 4
        cx, cy = (x0 + x1) // 2, (y0 + pic) // 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(min(255, v + 40) for v in tint))
    draw.text((x0 + 10, pic + 8), pseudo_text(rng, 3), fill=ink, font=text_font)
    draw.text((x0 + 10, pic + 30), pseudo_text(rng, 2), fill=ink, font=text_font)
    bh = max(18, (y1 - pic) // 4)
    draw.rounded_rectangle(
        (x0 + 10, y1 - bh - 10, x0 + 10 + (x1 - x0) // 2, y1 - 10), radius=bh // 2, fill=accent
    )
