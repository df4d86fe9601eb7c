"""Training folders and manifests: hidden files, categories alike but for case, a photo under two labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplens.data.folder import folder_items, load_csv_manifest
from shoplens.errors import DataFormatError
from shoplens.imaging import PreprocessConfig
from tests.support.images import photos, png


def test_hidden_folders_and_files_are_no_categories_or_photos(tmp_path: Path) -> None:
    for rel in ("Bag/a.png", "Bag/.thumbs/b.png", "Bag/._a.png", ".thumbnails/c.png", "Dress/sub/d.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png(photos(1)[0]))
    items = [(str(p.relative_to(tmp_path)), label) for p, label in folder_items(tmp_path)]
    assert items == [("Bag/a.png", "Bag"), ("Dress/sub/d.png", "Dress")]


def test_linked_sub_folders_are_read_once_and_a_link_back_up_ends_there(tmp_path: Path) -> None:
    root, shots = tmp_path / "root", tmp_path / "shoot-2026"
    for rel in ("root/Bag/a.png", "shoot-2026/b.png", "shoot-2026/sub/c.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png(photos(1)[0]))
    (root / "Bag" / "linked").symlink_to(shots)  # a merchant's shoot folder, linked in rather than copied
    (root / "Bag" / "up").symlink_to(root)  # a link back up the tree
    items = [(str(p.relative_to(root)), label) for p, label in folder_items(root)]
    assert items == [("Bag/a.png", "Bag"), ("Bag/linked/b.png", "Bag"), ("Bag/linked/sub/c.png", "Bag")]


def test_a_manifest_refuses_labels_alike_but_for_case_and_a_photo_under_two_labels(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(png(photos(1)[0]))
    cfg = PreprocessConfig(size=(16, 16), mode="L")
    for rows, why in (
        ("a.png,Coat\nb.png,coat\n", "'Coat' and 'coat' differ only in case"),
        ("a.png,Coat\na.png,Bag\n", "listed as 'Coat' and as 'Bag'"),
    ):
        (tmp_path / "m.csv").write_text(rows)
        with pytest.raises(DataFormatError, match=why):  # before: 2 classes out of one, silently
            load_csv_manifest(tmp_path / "m.csv", cfg)
