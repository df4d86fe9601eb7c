"""Micro-batching: single images from concurrent requests grouped into one predictor call on a worker thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class BatchRunner(Protocol):
    """Anything that maps a uint8 (N, C, H, W) batch to (probabilities (N, K), embeddings (N, D))."""

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and embeddings for one batch."""
        ...


class QueueFullError(Exception):
    """The batch queue holds its maximum number of images; the caller should retry later."""


class DeadlineExceededError(Exception):
    """The model did not answer before the request's deadline."""


@dataclass(frozen=True)
class BatchResult:
    """One image's outputs and how it was served."""

    probs: np.ndarray
    embedding: np.ndarray
    batch_size: int
    queue_ms: float
    inference_ms: float


@dataclass
class _Job:
    runner: BatchRunner
    array: np.ndarray
    deadline: float  # time.monotonic() after which nobody waits for the answer
    future: asyncio.Future[BatchResult]
    queued_at: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """A bounded queue of images and one worker that runs up to max_batch of them per call, waiting ≤ max_wait_ms."""

    def __init__(
        self,
        max_batch: int = 16,
        max_wait_ms: float = 2.0,
        queue_max: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
        expected: Callable[[], int] | None = None,
    ) -> None:
        if max_batch < 1 or queue_max < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_max must be ≥ 1 and max_wait_ms ≥ 0")
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue_max = queue_max
        self.on_batch = on_batch
        self.expected = expected  # how many more images are on their way (None: unknown, always wait)
        self._jobs: deque[_Job] = deque()
        self._arrived = asyncio.Event()
        self._stopping = False
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def depth(self) -> int:
        """Images waiting for the worker."""
        return len(self._jobs)

    async def start(self) -> None:
        """Start the worker task and its inference thread."""
        self._stopping = False
        self._arrived = asyncio.Event()  # bound to the loop that runs the worker
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoplens-infer")
        self._worker = asyncio.create_task(self._work(), name="shoplens-batcher")

    async def stop(self) -> None:
        """Finish the images already queued, then stop the worker and its thread."""
        self._stopping = True
        self._arrived.set()
        if self._worker is not None:
            await self._worker
            self._worker = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def submit(self, runner: BatchRunner, array: np.ndarray, deadline: float) -> asyncio.Future[BatchResult]:
        """Queue one (C, H, W) image for `runner`; QueueFullError when the queue is full or stopping."""
        if self._stopping or self._worker is None:
            raise QueueFullError("the model queue is not accepting work (shutting down)")
        if len(self._jobs) >= self.queue_max:
            raise QueueFullError(f"the model queue is full ({self.queue_max} images waiting)")
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(runner, array, deadline, future))
        self._arrived.set()
        return future

    def submit_all(
        self, runner: BatchRunner, arrays: list[np.ndarray], deadline: float
    ) -> list[asyncio.Future[BatchResult]]:
        """Queue every image, or none: QueueFullError (with the ones already queued withdrawn)."""
        futures: list[asyncio.Future[BatchResult]] = []
        try:
            for array in arrays:
                futures.append(self.submit(runner, array, deadline))
        except QueueFullError:
            for future in futures:
                future.cancel()
            raise
        return futures

    async def _work(self) -> None:
        """Take batches off the queue until stopped and empty."""
        while True:
            if not self._jobs:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._run(await self._collect())

    async def _collect(self) -> list[_Job]:
        """Up to max_batch jobs, waiting at most max_wait for the batch to fill while more images are expected.

        With nothing else on its way (a lone request, or every client already queued) the batch runs at once.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + self.max_wait
        while len(self._jobs) < self.max_batch and not self._stopping:
            if self.expected is not None and self.expected() <= 0:
                break
            remaining = until - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return [self._jobs.popleft() for _ in range(min(self.max_batch, len(self._jobs)))]

    async def _run(self, jobs: list[_Job]) -> None:
        """Run the live jobs, one predictor call per runner (a model swap can split a batch in two)."""
        now = time.monotonic()
        groups: dict[int, list[_Job]] = {}
        for job in jobs:
            if job.future.done():
                continue  # its request gave up (deadline, disconnect)
            if job.deadline <= now:
                job.future.cancel()
                continue
            groups.setdefault(id(job.runner), []).append(job)
        for group in groups.values():
            await self._run_group(group)

    async def _run_group(self, group: list[_Job]) -> None:
        """One predictor call in the inference thread; results or the error go to each job's future."""
        start = time.monotonic()
        batch = np.stack([job.array for job in group])
        try:
            probs, emb = await asyncio.get_running_loop().run_in_executor(
                self._executor, group[0].runner.run, batch
            )
        except Exception as e:  # the model failed: every request in the batch gets the error
            log.exception("inference failed for a batch of %d", len(group))
            for job in group:
                if not job.future.done():
                    job.future.set_exception(e)
            return
        took = time.monotonic() - start
        for i, job in enumerate(group):
            if not job.future.done():
                queue_ms = (start - job.queued_at) * 1000
                job.future.set_result(BatchResult(probs[i], emb[i], len(group), queue_ms, took * 1000))
        if self.on_batch is not None:
            self.on_batch(len(group), took)


async def wait_all(futures: list[asyncio.Future[BatchResult]], deadline: float) -> list[BatchResult]:
    """The results of queued images, in order; DeadlineExceededError (and the rest withdrawn) past `deadline`."""
    timeout = max(deadline - time.monotonic(), 0)
    try:
        if len(futures) == 1:  # the common case, without gather's extra future
            return [await asyncio.wait_for(futures[0], timeout)]
        return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))
    except TimeoutError:
        for future in futures:
            future.cancel()
        raise DeadlineExceededError("the model did not answer within the request deadline") from None
