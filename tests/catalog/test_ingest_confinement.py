"""Bulk ingest reads only inside its source: no `../`, absolute paths or symlinks out of it, no local paths in a
URL list, no merchant override unless asked, and one error text whatever the reason a file cannot be used."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.service import Catalog
from shoplens.catalog.sources import UNREADABLE, rows_from_csv, rows_from_folder, rows_from_url_list
from shoplens.db.catalog import Product
from tests.support.images import photos, png


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    """A source folder with one good image, and a secret image outside it."""
    source, secret = tmp_path / "source", tmp_path / "secret.png"
    source.mkdir()
    a, b = photos(2, seed=5)
    (source / "good.png").write_bytes(png(a))
    secret.write_bytes(png(b))
    (source / "link.png").symlink_to(secret)
    return source, secret


def test_csv_paths_are_confined_to_the_manifest_folder(catalog: Catalog, tmp_path: Path) -> None:
    source, secret = _setup(tmp_path)
    manifest = source / "m.csv"
    manifest.write_text(
        "sku,title,brand,price,category,image\n"
        "ok,Good,,,,good.png\n"
        "up,Up,,,,../secret.png\n"
        f"abs,Absolute,,,,{secret}\n"
        "link,Link,,,,link.png\n"
        "gone,Missing,,,,missing.png\n"
    )
    summary = BulkIngest(catalog).run("csv", manifest, rows_from_csv(manifest, "acme"), "acme")
    errors = dict(summary.errors)
    assert summary.done == 1 and summary.failed == 4
    assert errors == {"line 3": UNREADABLE, "line 4": UNREADABLE, "line 5": UNREADABLE, "line 6": UNREADABLE}
    with catalog.sessions() as s:
        assert list(s.scalars(select(Product.sku))) == ["ok"]


def test_a_folder_skips_symlinks_leaving_it(tmp_path: Path) -> None:
    source, _ = _setup(tmp_path)
    rows = {r.key: r for r in rows_from_folder(source, "acme", [])}
    assert rows["good.png"].error is None and rows["link.png"].error == UNREADABLE
    assert rows["link.png"].image == ""


def test_a_folder_follows_linked_folders_inside_it_and_refuses_those_leaving_it(tmp_path: Path) -> None:
    source, secret = _setup(tmp_path)
    (source / "shoot").mkdir()
    (source / "shoot" / "c.png").write_bytes((source / "good.png").read_bytes())
    (source / "again").symlink_to(source / "shoot")  # inside: read
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "d.png").write_bytes(secret.read_bytes())
    (source / "away").symlink_to(tmp_path / "outside")  # leads out: its photo is a failed row, not read
    rows = {r.key: r for r in rows_from_folder(source, "acme", [])}
    assert rows["again/c.png"].error is None and rows["again/c.png"].image
    assert rows["away/d.png"].error == UNREADABLE and rows["away/d.png"].image == ""
    assert "shoot/c.png" not in rows  # one real folder is read once, under its first name


def test_a_folder_entry_named_like_a_photo_that_is_no_file_fails_its_row(tmp_path: Path) -> None:
    source, _ = _setup(tmp_path)
    (source / "gone.png").symlink_to(tmp_path / "deleted.png")  # dangling
    os.mkfifo(source / "pipe.jpg")  # reading it would wait for a writer forever
    rows = {r.key: r for r in rows_from_folder(source, "acme", [])}
    assert (
        rows["gone.png"].error == UNREADABLE and rows["pipe.jpg"].error == UNREADABLE
    )  # skipped unsaid before


def test_a_url_list_never_reads_local_files(tmp_path: Path) -> None:
    _, secret = _setup(tmp_path)
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{secret}\nfile:///etc/passwd\nhttps://shop.example/a.png\n")
    rows = rows_from_url_list(urls, "acme")
    assert [r.error for r in rows] == ["not an http(s) URL", "not an http(s) URL", None]


def test_a_merchant_column_needs_permission(catalog: Catalog, tmp_path: Path) -> None:
    source, _ = _setup(tmp_path)
    manifest = source / "m.csv"
    manifest.write_text(
        "sku,title,brand,price,category,image,merchant\nx,X,,,,good.png,globex\ny,Y,,,,good.png,acme\n"
    )
    refused = rows_from_csv(manifest, "acme")
    assert refused[0].product is None and "allow the column" in (refused[0].error or "")
    assert refused[1].error is None and refused[1].product is not None
    allowed = rows_from_csv(manifest, "acme", merchant_column=True)
    assert allowed[0].product is not None and allowed[0].product.merchant == "globex"
