"""Hidden files and folders in a training folder."""

from __future__ import annotations

from pathlib import Path

from shoplens.data.folder import folder_items
from tests.support.images import photos, png


def test_hidden_folders_and_files_are_no_categories_or_photos(tmp_path: Path) -> None:
    for rel in ("Bag/a.png", "Bag/.thumbs/b.png", "Bag/._a.png", ".thumbnails/c.png", "Dress/sub/d.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png(photos(1)[0]))
    items = [(str(p.relative_to(tmp_path)), label) for p, label in folder_items(tmp_path)]
    assert items == [("Bag/a.png", "Bag"), ("Dress/sub/d.png", "Dress")]
