"""Bulk ingestion's sources: a product's rows in one source agree, or the repeating ones fail with a reason."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.service import Catalog
from shoplens.catalog.sources import rows_from_csv, rows_from_folder
from shoplens.db.catalog import Product
from tests.support.images import photos, png


def test_two_files_of_one_stem_in_a_folder_are_not_merged_into_one_product(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    red, blue = photos(2)
    (root / "red.jpg").write_bytes(png(red))  # PNG bytes under .jpg: the content decides, the name the SKU
    (root / "red.png").write_bytes(png(blue))
    rows = rows_from_folder(root, "acme", catalog.categories())
    assert (rows[0].key, rows[0].error) == ("red.jpg", None)
    assert "SKU 'red' is also red.jpg's" in (rows[1].error or "") and "rename one" in (rows[1].error or "")
    summary = BulkIngest(catalog).run("folder", root, rows, "acme")
    assert (summary.done, summary.failed) == (1, 1)
    with catalog.sessions() as s:
        (product,) = s.scalars(select(Product)).all()
        assert product.sku == "red" and len(product.images) == 1


def test_a_csv_product_on_several_rows_gets_their_images_only_when_the_rows_agree(
    catalog: Catalog, tmp_path: Path
) -> None:
    for i, p in enumerate(photos(3)):
        (tmp_path / f"{i}.png").write_bytes(png(p))
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "sku,title,brand,price,category,image\n"
        "a,Tote,Brand,12.50,Bag,0.png\n"
        "a,Tote,Brand,12.50,Bag,1.png\n"  # a second image of the same product
        "a,Tote,Brand,9.99,Bag,2.png\n"  # another price for it: which one is meant?
    )
    rows = rows_from_csv(manifest, "acme")
    assert rows[0].error is None and rows[1].error is None
    assert rows[2].error == (
        "SKU 'a' is also line 2's, with other details (title, brand, price, category or stock): "
        "a product's rows must agree"
    )
    summary = BulkIngest(catalog).run("csv", manifest, rows, "acme")
    assert (summary.done, summary.failed) == (2, 1)
    with catalog.sessions() as s:
        (product,) = s.scalars(select(Product)).all()
        assert str(product.price) == "12.50" and len(product.images) == 2
