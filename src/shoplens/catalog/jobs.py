"""Bulk ingestion from a folder, a CSV manifest or a URL list: resumable jobs with a result per row."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplens.catalog.fetch import FetchPolicy, fetch_all
from shoplens.catalog.ingest import IngestItem, ItemOutcome, ProductIn
from shoplens.catalog.queries import referenced_images
from shoplens.catalog.service import Catalog
from shoplens.db.base import utcnow
from shoplens.db.catalog import IngestJob, IngestRow
from shoplens.errors import DataFormatError, DataNotFoundError
from shoplens.imaging.decode import DEFAULT_MAX_BYTES

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
CSV_COLUMNS = ("sku", "title", "brand", "price", "category", "image")
_URL = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    """One row of a source: what to ingest and where its image is (a path or a URL), or why it cannot be."""

    key: str
    product: ProductIn | None
    image: str = ""
    error: str | None = None


@dataclass
class JobSummary:
    """How a run of a job ended: counts and the reason for every failure."""

    job_id: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def count(self, outcome: ItemOutcome) -> None:
        """Add one row's outcome."""
        if outcome.status == "failed":
            self.failed += 1
            self.errors.append((outcome.key, outcome.error or "failed"))
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.done += 1


def title_from(name: str) -> str:
    """A readable title from a file name: 'red_dress-02' → 'Red dress 02'."""
    words = re.sub(r"[_\-.]+", " ", name).strip()
    return (words[:1].upper() + words[1:]) or "Untitled"


def rows_from_folder(root: Path, merchant: str, categories: Sequence[str]) -> list[Row]:
    """Every image under root (sorted); a first-level folder named like a category declares it."""
    if not root.is_dir():
        raise DataNotFoundError(f"{root} is not a folder")
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(root)
        category = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in categories else None
        sku = "-".join(rel.with_suffix("").parts)[:100]
        rows.append(
            Row(str(rel), ProductIn(merchant, sku, title_from(path.stem), category=category), str(path))
        )
    return rows


def rows_from_csv(path: Path, merchant: str) -> list[Row]:
    """Rows of a `sku,title,brand,price,category,image[,merchant,stock]` manifest; images relative to it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise DataNotFoundError(f"no manifest {path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: not a readable UTF-8 CSV file ({e})") from e
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"
        )
    rows = []
    for n, rec in enumerate(reader, start=2):  # line numbers as a spreadsheet shows them
        key = f"line {n}"
        try:
            product = ProductIn(
                merchant=(rec.get("merchant") or merchant).strip(),
                sku=(rec["sku"] or "").strip(),
                title=(rec["title"] or "").strip(),
                brand=(rec["brand"] or "").strip() or None,
                price=_price(rec["price"]),
                category=(rec["category"] or "").strip() or None,
                stock=int(rec.get("stock") or 0),
            )
        except (ValueError, InvalidOperation) as e:
            rows.append(Row(key, None, error=f"bad value: {e}"))
            continue
        image = (rec["image"] or "").strip()
        if image and not _URL.match(image):
            image = str((path.parent / image).resolve())
        rows.append(Row(key, product, image, None if image else "no image given"))
    return rows


def rows_from_url_list(path: Path, merchant: str) -> list[Row]:
    """One product per URL line (blank lines and # comments skipped); sku from the URL's hash."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise DataNotFoundError(f"no URL list {path}") from e
    rows = []
    for n, line in enumerate(lines, start=1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        sku = "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
        name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        rows.append(Row(f"line {n}", ProductIn(merchant, sku, title_from(Path(name).stem)), url))
    return rows


def _price(text: str | None) -> Decimal | None:
    """A price column value (empty → None)."""
    text = (text or "").strip()
    if not text:
        return None
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(f"price {text!r} is not a number")
    return value


def job_id_for(kind: str, source: Path, merchant: str) -> str:
    """The same source ingested again is the same job (so it resumes)."""
    return hashlib.sha256(f"{kind}\0{source.resolve()}\0{merchant}".encode()).hexdigest()[:32]


def _read_local(path: str, max_bytes: int) -> bytes:
    """A local image file's bytes, refusing ones larger than max_bytes."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no file {path}")
    if p.stat().st_size > max_bytes:
        raise ValueError(f"file larger than {max_bytes} bytes")
    return p.read_bytes()


class BulkIngest:
    """Runs rows through the catalogue's ingestor in batches, recording each row's result under a job."""

    def __init__(
        self,
        catalog: Catalog,
        policy: FetchPolicy | None = None,
        batch_size: int = 256,
        blur_faces: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.catalog, self.policy, self.batch_size = catalog, policy or FetchPolicy(), batch_size
        self.blur_faces, self.max_bytes = blur_faces, max_bytes

    def run(
        self,
        kind: str,
        source: Path,
        rows: Sequence[Row],
        merchant: str,
        progress: Callable[[int], None] | None = None,
    ) -> JobSummary:
        """Ingest the rows not finished in an earlier run of this job; a summary of what happened."""
        job_id = job_id_for(kind, source, merchant)
        with self.catalog.sessions.begin() as session:
            finished = self._start(session, job_id, kind, source)
        swept = self.catalog.store.sweep(self._referenced())
        summary = JobSummary(job_id)
        summary.skipped = sum(1 for r in rows if r.key in finished)
        if progress:
            progress(summary.skipped)
        ingestor = self.catalog.ingestor()
        todo = [r for r in rows if r.key not in finished]
        with self.catalog.space.deferred_saves():
            for batch in _chunks(todo, self.batch_size):
                outcomes = self._batch(ingestor, batch)
                with self.catalog.sessions.begin() as session:
                    _record_rows(session, job_id, outcomes)
                for o in outcomes:
                    summary.count(o)
                if progress:
                    progress(len(batch))
        with self.catalog.sessions.begin() as session:
            job = session.get(IngestJob, job_id)
            assert job is not None
            job.status, job.finished_at = "done", utcnow()
        summary.errors.sort()
        self.swept = swept
        return summary

    def _start(self, session: Session, job_id: str, kind: str, source: Path) -> set[str]:
        """Create or reopen the job; the keys of rows already done or skipped."""
        job = session.get(IngestJob, job_id)
        if job is None:
            job = IngestJob(id=job_id, kind=kind, source=str(source.resolve()), runs=0)
            session.add(job)
        job.status, job.runs, job.finished_at = "running", job.runs + 1, None
        done = session.scalars(
            select(IngestRow.row_key).where(
                IngestRow.job_id == job_id, IngestRow.status.in_(("done", "skipped"))
            )
        )
        return set(done)

    def _referenced(self) -> set[str]:
        """Content ids some row refers to (everything else in the store is an orphan)."""
        with self.catalog.sessions() as session:
            return referenced_images(session)

    def _batch(self, ingestor, rows: Sequence[Row]) -> list[ItemOutcome]:  # type: ignore[no-untyped-def]
        """Read or fetch the rows' images, then ingest those that could be read."""
        outcomes: dict[str, ItemOutcome] = {}
        data: dict[str, bytes] = {}
        urls = [r for r in rows if r.error is None and _URL.match(r.image)]
        for r in rows:
            if r.error is not None or r.product is None:
                outcomes[r.key] = ItemOutcome(r.key, "failed", error=r.error)
            elif not _URL.match(r.image):
                try:
                    data[r.key] = _read_local(r.image, self.max_bytes)
                except (OSError, ValueError) as e:
                    outcomes[r.key] = ItemOutcome(r.key, "failed", error=str(e))
        for r, res in zip(urls, fetch_all([r.image for r in urls], self.policy) if urls else []):
            if res.ok and res.data is not None:
                data[r.key] = res.data
            else:
                outcomes[r.key] = ItemOutcome(r.key, "failed", error=f"{r.image}: {res.error}")
        items = [
            IngestItem(r.key, r.product, [data[r.key]], self.blur_faces)
            for r in rows
            if r.key in data and r.product
        ]
        for o in ingestor.ingest(items):
            outcomes[o.key] = o
        return [outcomes[r.key] for r in rows]


def _record_rows(session: Session, job_id: str, outcomes: Sequence[ItemOutcome]) -> None:
    """Upsert the per-row results of a batch."""
    keys = [o.key for o in outcomes]
    existing = {
        r.row_key: r
        for r in session.scalars(
            select(IngestRow).where(IngestRow.job_id == job_id, IngestRow.row_key.in_(keys))
        )
    }
    for o in outcomes:
        row = existing.get(o.key) or IngestRow(job_id=job_id, row_key=o.key)
        row.status, row.product_id, row.error = o.status, o.product_id, o.error
        session.add(row)


def _chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    """Consecutive slices of at most `size` rows."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
