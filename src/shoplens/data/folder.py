"""A merchant's own categories: a labelled folder (root/<category>/*.jpg) or a CSV manifest (path,label)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from shoplens.data.dataset import ImageDataset, array_checksum
from shoplens.errors import DataFormatError, DataNotFoundError, ImageError
from shoplens.imaging import PreprocessConfig, image_to_array, read_image_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}


def _build(items: Iterable[tuple[Path, str]], cfg: PreprocessConfig, source: str) -> ImageDataset:
    items = list(items)
    if not items:
        raise DataNotFoundError(f"{source}: no images found (accepted: {', '.join(sorted(IMAGE_SUFFIXES))})")
    class_names = sorted({label for _, label in items})
    index = {name: i for i, name in enumerate(class_names)}
    arrays, labels, skipped = [], [], []
    for path, label in items:
        try:
            arrays.append(image_to_array(read_image_file(path), cfg))
        except ImageError as e:
            skipped.append({"path": str(path), "error": str(e)})
            continue
        labels.append(index[label])
    if not arrays:
        raise DataFormatError(
            f"{source}: none of the {len(items)} images could be read (first: {skipped[0]['error']})"
        )
    images = np.stack(arrays)
    labels_arr = np.asarray(labels, dtype=np.int64)
    return ImageDataset(
        images,
        labels_arr,
        class_names,
        source=source,
        checksum=array_checksum(images, labels_arr),
        meta={"skipped": skipped},
    )


def folder_items(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(photo, category) for every image file under root/<category>/, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{root}: not a folder (expected root/<category>/<image files>)")
    return [
        (p, sub.name)
        for sub in sorted(d for d in root.iterdir() if d.is_dir())
        for p in sorted(sub.rglob("*"))
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    ]


def load_image_folder(root: str | os.PathLike, cfg: PreprocessConfig) -> ImageDataset:
    """One class per sub-folder of root; every photo goes through the model's preprocessing."""
    return _build(folder_items(root), cfg, f"folder:{Path(root)}")


def load_csv_manifest(manifest: str | os.PathLike, cfg: PreprocessConfig) -> ImageDataset:
    """Rows of `path,label` (a header row is optional); relative paths resolve against the manifest's folder."""
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataNotFoundError(f"{manifest}: cannot read the manifest ({e})") from e
    rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    items = []
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataFormatError(f"{manifest}: row {n} needs `path,label`, got {row!r}")
        path = Path(row[0].strip())
        items.append((path if path.is_absolute() else manifest.parent / path, row[1].strip()))
    return _build(items, cfg, f"manifest:{manifest}")
