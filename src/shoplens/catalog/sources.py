"""Where bulk ingestion's rows come from: a folder, a CSV or Parquet manifest, or a list of URLs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from shoplens.catalog.batch import image_files, is_uri, is_web_url, manifest_rows
from shoplens.catalog.declared import TEXT_LIMITS, ProductIn
from shoplens.errors import DataFormatError, DataNotFoundError
from shoplens.files import csv_header
from shoplens.imaging import IMAGE_SUFFIXES

CSV_COLUMNS = ("sku", "title", "brand", "price", "category", "image")
READ_COLUMNS = (*CSV_COLUMNS, "merchant", "stock")  # the required ones and the optional ones
# One text for every local image that cannot be used, so a row's error never tells whether a file exists.
UNREADABLE = "image cannot be read (missing, not a file, outside the source folder, unreadable or too large)"


def _inside(root: Path, path: Path) -> bool:
    """Whether path, with every symlink resolved, lies under the resolved root."""
    return path.resolve().is_relative_to(root.resolve())


@dataclass(frozen=True)
class Row:
    """One row of a source: what to ingest and where its image is (a path or a URL), or why it cannot be."""

    key: str
    product: ProductIn | None
    image: str = ""
    error: str | None = None


def title_from(name: str) -> str:
    """A readable title from a file name: 'red_dress-02' → 'Red dress 02'."""
    words = re.sub(r"[_\-.]+", " ", name).strip()
    return (words[:1].upper() + words[1:])[: TEXT_LIMITS["title"]] or "Untitled"


def rows_from_folder(root: Path, merchant: str, categories: Sequence[str]) -> list[Row]:
    """Every image under root (sorted); a first-level folder named like a category declares it."""
    if not root.is_dir():
        raise DataNotFoundError(f"{root} is not a folder")
    rows = []
    for path in image_files(root):  # a dangling link or a FIFO named like an image is a row that fails
        rel = path.relative_to(root)
        category = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in categories else None
        sku = "-".join(rel.with_suffix("").parts)[:100]
        product = ProductIn(merchant, sku, title_from(path.stem), category=category)
        if not path.is_file() or not _inside(root, path):  # or a symlink leading out of the folder
            rows.append(Row(str(rel), product, error=UNREADABLE))
            continue
        rows.append(Row(str(rel), product, str(path)))
    if not rows:
        raise DataNotFoundError(f"{root}: no images in it (accepted: {', '.join(sorted(IMAGE_SUFFIXES))})")
    return _repeats_refused(rows, ": a folder's SKU is the file's path without its extension (rename one)")


def unread_columns(path: Path) -> list[str]:
    """A manifest's columns ingestion does not read, as its header names them (a misspelt `stock` left every
    product's stock at 0 without a word); none for a file whose header cannot be read."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = list(pq.read_schema(path).names)
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            return []
    else:
        names = csv_header(path)
    return [n for n in names if n not in READ_COLUMNS]


def rows_from_csv(path: Path, merchant: str, merchant_column: bool = False) -> list[Row]:
    """Rows of a `sku,title,brand,price,category,image[,merchant,stock]` manifest (CSV, or Parquet with those
    columns); images relative to it, or URIs (http(s):// fetched, s3://, gs://… read through pyarrow).

    Local images must lie in the manifest's folder (symlinks resolved); a row naming another merchant than
    `merchant` is refused unless `merchant_column` allows the column to choose.
    """
    numbered = manifest_rows(path)
    records = [record for _, record in numbered]
    if not records:
        raise DataFormatError(
            f"{path}: no products in it (a header {','.join(CSV_COLUMNS)}, then a row each)"
        )
    missing = [c for c in CSV_COLUMNS if c not in records[0]]
    if missing:
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"
        )
    rows = []
    for n, rec in numbered:  # line numbers as a spreadsheet shows them
        key = f"line {n}"
        named = (rec.get("merchant") or "").strip()
        if named and named != merchant and not merchant_column:
            rows.append(
                Row(
                    key,
                    None,
                    error=f"the merchant column names {named[:64]!r}: allow the column (--merchant-from-csv)",
                )
            )
            continue
        try:
            product = ProductIn(
                merchant=named or merchant,
                sku=(rec["sku"] or "").strip(),
                title=(rec["title"] or "").strip(),
                brand=(rec["brand"] or "").strip() or None,
                price=_price(rec["price"]),
                category=(rec["category"] or "").strip() or None,
                stock=_stock(rec.get("stock")),
            )
        except (ValueError, InvalidOperation) as e:
            rows.append(Row(key, None, error=f"bad value: {e}"))
            continue
        image = (rec["image"] or "").strip()
        local_uri = image.lower().startswith("file:") and is_uri(image)  # file:// names a local file too
        if image and (local_uri or not is_uri(image)):
            local = path.parent / (url2pathname(urlsplit(image).path) if local_uri else image)
            if not _inside(path.parent, local):
                rows.append(Row(key, product, error=UNREADABLE))
                continue
            image = str(local.resolve())
        rows.append(Row(key, product, image, None if image else "no image given"))
    return _repeats_refused(
        rows,
        ", with other details (title, brand, price, category or stock): a product's rows must agree",
        same_ok=True,
    )


def _repeats_refused(rows: list[Row], why: str, same_ok: bool = False) -> list[Row]:
    """The rows, each repeating an earlier row's (merchant, SKU) failed with why — unless same_ok and it declares
    the same (then it adds its image to that product)."""
    first: dict[tuple[str, str], Row] = {}
    out = []
    for row in rows:
        p = row.product
        if p is None or row.error is not None:
            out.append(row)
            continue
        seen = first.setdefault((p.merchant, p.sku), row)
        if seen is row or (same_ok and seen.product == p):
            out.append(row)
        else:
            out.append(replace(row, error=f"SKU {p.sku!r} is also {seen.key}'s{why}"))
    return out


def rows_from_url_list(path: Path, merchant: str) -> list[Row]:
    """One product per URL line (blank lines and # comments skipped); sku from the URL's hash."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise DataNotFoundError(f"no URL list {path}") from e
    except UnicodeDecodeError as e:
        raise DataFormatError(
            f"{path}: not a list of URLs (UTF-8 text, one per line); a folder, or a .csv or .parquet manifest, "
            "is read as such"
        ) from e
    rows = []
    for n, line in enumerate(lines, start=1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        sku = "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
        name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        product = ProductIn(merchant, sku, title_from(Path(name).stem))
        if not is_web_url(url):  # a URL list never reads local files
            rows.append(Row(f"line {n}", product, error="not an http(s) URL"))
            continue
        rows.append(Row(f"line {n}", product, url))
    return rows


def _price(text: str | None) -> Decimal | None:
    """A price column value (empty → None)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"price {text[:40]!r} is not a number")
    return value


def _stock(text: str | None) -> int:
    """A stock column value (empty → 0)."""
    text = (text or "").strip()
    try:
        return int(text or 0)
    except ValueError:
        raise ValueError(f"stock {text[:40]!r} is not a whole number") from None
