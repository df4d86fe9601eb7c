"""A merchant's own categories: a labelled folder (root/<category>/*.jpg) or a CSV manifest (path,label).

Both are read into memory, or left on disk and decoded when read (`stream`, see data/stream.py).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shoplens.data.dataset import ImageDataset
from shoplens.data.stream import STREAM_ABOVE, FileDataset
from shoplens.errors import DataFormatError, DataNotFoundError
from shoplens.files import tree_entries
from shoplens.imaging import IMAGE_SUFFIXES, PreprocessConfig


def _build(
    items: Iterable[tuple[Path, str]], cfg: PreprocessConfig, source: str, stream: bool | None
) -> ImageDataset | FileDataset:
    """The labelled photos on disk (stream) or decoded into memory; stream=None: on disk above STREAM_ABOVE."""
    items = list(items)
    if not items:
        raise DataNotFoundError(f"{source}: no images found (accepted: {', '.join(sorted(IMAGE_SUFFIXES))})")
    class_names = sorted({label for _, label in items})
    index = {name: i for i, name in enumerate(class_names)}
    files = FileDataset.from_items(
        [p for p, _ in items], [index[label] for _, label in items], class_names, cfg, source
    )
    if stream is None:
        stream = len(files) > STREAM_ABOVE
    return files if stream else files.materialize(signatures=True)


def hidden(relative: Path) -> bool:
    """Whether a path inside a photo folder is hidden, or lies in a hidden folder (a `.thumbnails` cache, macOS's
    `._x.png`): no photo of it."""
    return any(part.startswith(".") for part in relative.parts)


def folder_items(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(photo, category) for every image file under root/<category>/, sorted; hidden files and folders are left out
    (a `.thumbnails` cache is no category, macOS's `._x.png` no photo), linked folders are followed."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{root}: not a folder (expected root/<category>/<image files>)")
    return [
        (p, sub.name)
        for sub in sorted(d for d in root.iterdir() if d.is_dir() and not hidden(Path(d.name)))
        for p in tree_entries(sub)
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p.relative_to(sub))
    ]


def load_image_folder(
    root: str | os.PathLike, cfg: PreprocessConfig, stream: bool | None = False
) -> ImageDataset | FileDataset:
    """One class per sub-folder of root; every photo goes through the model's preprocessing (stream: when read)."""
    return _build(folder_items(root), cfg, f"folder:{Path(root)}", stream)


def load_csv_manifest(
    manifest: str | os.PathLike, cfg: PreprocessConfig, stream: bool | None = False
) -> ImageDataset | FileDataset:
    """Rows of `path,label` (a header row is optional); relative paths resolve against the manifest's folder."""
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataNotFoundError(f"{manifest}: cannot read the manifest ({e})") from e
    reader = csv.reader(io.StringIO(text, newline=""))  # rows end at line ends only, not at U+2028 & co.
    try:
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as e:
        raise DataFormatError(f"{manifest}: line {reader.line_num}: not a readable CSV row ({e})") from e
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    items = []
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataFormatError(f"{manifest}: row {n} needs `path,label`, got {row!r}")
        path = Path(row[0].strip())
        items.append((path if path.is_absolute() else manifest.parent / path, row[1].strip()))
    _check_manifest(manifest, items)
    return _build(items, cfg, f"manifest:{manifest}", stream)


def _check_manifest(manifest: Path, items: list[tuple[Path, str]]) -> None:
    """DataFormatError for labels that differ only in case, or a photo listed under two labels."""
    if clash := _clash((label.casefold(), label) for _, label in items):
        raise DataFormatError(
            f"{manifest}: the labels {clash[0]!r} and {clash[1]!r} differ only in case: write one category alike"
        )
    if clash := _clash((path.resolve(), label) for path, label in items):
        raise DataFormatError(
            f"{manifest}: {clash[2]} is listed as {clash[0]!r} and as {clash[1]!r}: give it one label"
        )


def _clash(pairs: Iterable[tuple[Any, str]]) -> tuple[str, str, Any] | None:
    """The first key given two different values: (its first value, the other, the key); None when none is."""
    seen: dict[Any, str] = {}
    for key, value in pairs:
        first = seen.setdefault(key, value)
        if first != value:
            return first, value, key
    return None
