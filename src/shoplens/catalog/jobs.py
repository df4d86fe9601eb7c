"""Bulk ingestion from a folder, a CSV manifest or a URL list: resumable jobs with a result per row."""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplens.catalog.batch import chunks, is_uri, is_web_url, read_bytes
from shoplens.catalog.fetch import FetchPolicy, fetch_all
from shoplens.catalog.ingest import IngestItem, Ingestor, ItemOutcome, Prepared, prepare_items
from shoplens.catalog.queries import referenced_images
from shoplens.catalog.service import Catalog
from shoplens.catalog.sources import UNREADABLE, Row
from shoplens.db.base import retried_on_conflict, utcnow
from shoplens.db.catalog import IngestJob, IngestRow
from shoplens.imaging import PreprocessConfig
from shoplens.imaging.decode import DEFAULT_MAX_BYTES
from shoplens.processes import spawn_pool, usable_cpus

Engine = Callable[[Ingestor, Sequence[Row]], Iterator[list[ItemOutcome]]]


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


def job_id_for(kind: str, source: Path, merchant: str) -> str:
    """The same source ingested again is the same job (so it resumes)."""
    return hashlib.sha256(f"{kind}\0{source.resolve()}\0{merchant}".encode()).hexdigest()[:32]


class BulkIngest:
    """Runs rows through the catalogue's ingestor in batches, recording each row's result under a job."""

    def __init__(
        self,
        catalog: Catalog,
        policy: FetchPolicy | None = None,
        batch_size: int = 256,
        blur_faces: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.catalog, self.policy, self.batch_size = catalog, policy or FetchPolicy(), batch_size
        self.blur_faces, self.max_bytes, self.workers = blur_faces, max_bytes, workers
        self.processes = 1  # worker processes the last local run prepared images in (reported; 1: none)

    def run(
        self,
        kind: str,
        source: Path,
        rows: Sequence[Row],
        merchant: str,
        progress: Callable[[int], None] | None = None,
        engine: Engine | None = None,
    ) -> JobSummary:
        """Ingest the rows not finished in an earlier run of this job; a summary of what happened.

        engine: how the rows to do become outcomes, a batch at a time (default: here, in batch_size chunks;
        ray_jobs.ingest_outcomes_ray: on Ray). Each batch's outcomes are recorded as it comes back.
        """
        job_id = job_id_for(kind, source, merchant)
        finished = retried_on_conflict(  # a run of the same job in another process may create it first
            self.catalog.sessions, lambda session: self._start(session, job_id, kind, source)
        )
        swept = self.catalog.store.sweep(self._referenced())
        summary = JobSummary(job_id)
        resume = {r.key: resume_key(r) for r in rows}
        todo = [r for r in rows if resume[r.key] not in finished]
        summary.skipped = len(rows) - len(todo)
        if progress:
            progress(summary.skipped)
        ingestor = self.catalog.ingestor()
        with self.catalog.space.deferred_saves():
            for outcomes in (engine or self._local)(ingestor, todo):
                record = partial(_record_rows, job_id=job_id, outcomes=outcomes, resume=resume)
                retried_on_conflict(self.catalog.sessions, record)
                for o in outcomes:
                    summary.count(o)
                if progress:
                    progress(len(outcomes))
        with self.catalog.sessions.begin() as session:
            job = session.get(IngestJob, job_id)
            assert job is not None
            job.status, job.finished_at = "done", utcnow()
        order = {r.key: i for i, r in enumerate(rows)}
        summary.errors.sort(key=lambda e: (order.get(e[0], len(order)), e))  # as the source lists them
        self.swept = swept
        return summary

    def _local(self, ingestor: Ingestor, rows: Sequence[Row]) -> Iterator[list[ItemOutcome]]:
        """The rows' outcomes, batch_size rows at a time, on this machine.

        With workers > 1 (at most one per CPU) and more than one batch, worker processes decode, check, measure
        and read each batch's images for the model while this process runs the model on the batch before and
        writes it. They are started with "spawn": a script that runs such a job needs the
        `if __name__ == "__main__":` guard.
        """
        self.processes = processes = min(self.workers, usable_cpus())
        if processes == 1 or len(rows) <= self.batch_size:
            for batch in chunks(rows, self.batch_size):
                yield self._batch(ingestor, batch)
            return
        with spawn_pool(processes) as pool:
            ahead: deque[_Sent] = deque()
            for batch in chunks(rows, self.batch_size):
                ahead.append(self._send(pool, processes, ingestor, batch))
                if len(ahead) > 1:
                    yield self._finish(ingestor, ahead.popleft())
            while ahead:
                yield self._finish(ingestor, ahead.popleft())

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

    def _batch(self, ingestor: Ingestor, rows: Sequence[Row]) -> list[ItemOutcome]:
        """Read or fetch the rows' images, then ingest those that could be read."""
        outcomes, items = self._gather(rows)
        for o in ingestor.ingest(items):
            outcomes[o.key] = o
        return [outcomes[r.key] for r in rows]

    def _send(
        self, pool: ProcessPoolExecutor, processes: int, ingestor: Ingestor, rows: Sequence[Row]
    ) -> _Sent:
        """Read or fetch the rows' images and hand them to the pool's `processes` workers, a share each."""
        outcomes, items = self._gather(rows)
        how = ingestor.preparation(self.catalog.model().predictor.reading)
        share = max(1, -(-len(items) // processes))
        parts = [pool.submit(prepare_items, items[i : i + share], how) for i in range(0, len(items), share)]
        return _Sent(rows, items, outcomes, parts, how.reading)

    def _finish(self, ingestor: Ingestor, sent: _Sent) -> list[ItemOutcome]:
        """Ingest a batch the workers have prepared."""
        prepared: dict[str, list[Prepared]] = {}
        for part in sent.parts:
            done, failed = part.result()
            prepared.update(done)
            sent.outcomes.update(failed)
        for o in ingestor.ingest_prepared(sent.items, prepared, sent.outcomes, ingestor.embed, sent.reading):
            sent.outcomes[o.key] = o
        return [sent.outcomes[r.key] for r in sent.rows]

    def _gather(self, rows: Sequence[Row]) -> tuple[dict[str, ItemOutcome], list[IngestItem]]:
        """Read or fetch the rows' images: (outcomes of the rows that failed, items for those that did not)."""
        outcomes: dict[str, ItemOutcome] = {}
        data: dict[str, bytes] = {}
        urls = [r for r in rows if r.error is None and is_web_url(r.image)]
        for r in rows:
            if r.error is not None or r.product is None:
                outcomes[r.key] = ItemOutcome(r.key, "failed", error=r.error)
            elif not is_web_url(r.image):
                try:
                    data[r.key] = read_bytes(r.image, self.max_bytes)
                except (OSError, ValueError) as e:  # local files: one text whatever the cause
                    error = UNREADABLE if not is_uri(r.image) else str(e)
                    outcomes[r.key] = ItemOutcome(r.key, "failed", error=error)
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
        return outcomes, items


@dataclass
class _Sent:
    """A batch handed to the worker processes: its rows, items, outcomes so far, and the workers' parts."""

    rows: Sequence[Row]
    items: list[IngestItem]
    outcomes: dict[str, ItemOutcome]
    parts: list[Future[tuple[dict[str, list[Prepared]], dict[str, ItemOutcome]]]]
    reading: PreprocessConfig | None


def resume_key(row: Row) -> str:
    """A row's record in its job: its SKU and a digest of everything it says (product fields, image, and a local
    image's size and modification time), so a row edited or inserted since a run, or given a new photo, is
    ingested when the same source runs again; rows as they were are skipped wherever they now stand."""
    digest = hashlib.sha256(repr((row.product, row.image, row.error)).encode())
    if row.image and not is_uri(row.image):
        try:
            stat = os.stat(row.image)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            pass  # a missing image fails its row, which is never recorded as done
    sku = row.product.sku if row.product is not None else row.key
    return f"{sku[:200]} @{digest.hexdigest()[:32]}"


def _record_rows(
    session: Session, job_id: str, outcomes: Sequence[ItemOutcome], resume: dict[str, str]
) -> None:
    """Upsert the per-row results of a batch, each under its row's resume key."""
    keys = [resume.get(o.key, o.key) for o in outcomes]
    existing = {
        r.row_key: r
        for r in session.scalars(
            select(IngestRow).where(IngestRow.job_id == job_id, IngestRow.row_key.in_(keys))
        )
    }
    for o, key in zip(outcomes, keys):  # rows saying the same thing share a record
        row = existing.get(key)
        if row is None:
            row = existing[key] = IngestRow(job_id=job_id, row_key=key)
        row.status, row.product_id, row.error = o.status, o.product_id, o.error
        session.add(row)
