"""Micro-batching: single images from concurrent requests grouped into one predictor call.

A call expected to be quick (under `inline_ms`, judged from the runner's own past calls) runs on the event loop
itself: for a small fast model a hop to the inference thread and back costs more than the call. When the worker
is idle, a request waiting for such a call makes it itself (`wait`), sparing two trips through the event loop.
Anything slower runs in the inference thread, so the event loop keeps reading and decoding other requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
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
        inline_ms: float = 0.0,
    ) -> None:
        if max_batch < 1 or queue_max < 1 or max_wait_ms < 0 or inline_ms < 0:
            raise ValueError("max_batch and queue_max must be ≥ 1, max_wait_ms and inline_ms ≥ 0")
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue_max = queue_max
        self.on_batch = on_batch
        self.expected = expected  # how many more images are on their way (None: unknown, always wait)
        self.inline = inline_ms / 1000
        self._per_image: weakref.WeakKeyDictionary[BatchRunner, float] = weakref.WeakKeyDictionary()
        self._jobs: deque[_Job] = deque()
        self._arrived = asyncio.Event()
        self._stopping = False
        self._idle = False  # the worker is parked, waiting for images
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
                self._idle = True
                await self._arrived.wait()
                self._idle = False
                continue
            await self._run(await self._collect())

    async def _collect(self) -> list[_Job]:
        """Up to max_batch jobs, waiting at most max_wait for the batch to fill while more images are expected.

        With nothing else on its way (a lone request, or every client already queued) the batch runs at once; so
        does the batch of a model quick enough to run on the event loop: waiting for company would cost the
        waiting requests more time than a shared call saves.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + self.max_wait
        while (
            len(self._jobs) < self.max_batch and not self._stopping and not self._quick(self._jobs[0].runner)
        ):
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

    def _quick(self, runner: BatchRunner) -> bool:
        """Whether this runner's model is quick enough for an image to run on the event loop (see the module)."""
        per_image = self._per_image.get(runner)
        return bool(self.inline) and per_image is not None and per_image <= self.inline

    async def wait(self, futures: list[asyncio.Future[BatchResult]], deadline: float) -> list[BatchResult]:
        """The results of queued images, in order; DeadlineExceededError for each not answered by `deadline`.

        If the worker is idle and their model quick, the images at the head of the queue run here and now.
        One timer per request (cheaper than asyncio.wait_for); an image not started by the deadline is skipped.
        """
        self._run_here()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(max(deadline - time.monotonic(), 0), _expire, futures)
        try:
            if len(futures) == 1:  # the common case, without gather's extra future
                return [await futures[0]]
            return list(await asyncio.gather(*futures))
        finally:
            timer.cancel()

    def _run_here(self) -> None:
        """Run the head of the queue in the caller's task when the worker is idle and the model quick."""
        if not self._idle or not self._jobs or not self._quick(runner := self._jobs[0].runner):
            return
        room = max(1, int(self.inline / self._per_image[runner]))
        jobs = []
        while self._jobs and len(jobs) < min(room, self.max_batch) and self._jobs[0].runner is runner:
            jobs.append(self._jobs.popleft())
        for group in _live_groups(jobs):
            self._run_inline(group)

    async def _run(self, jobs: list[_Job]) -> None:
        """Run the live jobs, one predictor call per runner (a model swap can split a batch in two)."""
        for group in _live_groups(jobs):
            per_image = self._per_image.get(group[0].runner)
            if self.inline and per_image is not None and per_image * len(group) <= self.inline:
                self._run_inline(group)
            else:
                await self._run_in_thread(group)

    def _run_inline(self, group: list[_Job]) -> None:
        """One predictor call on the event loop."""
        start = time.monotonic()
        try:
            outputs, seconds = _timed(group[0].runner, np.stack([job.array for job in group]))
        except Exception as e:
            self._fail(group, e)
            return
        self._finish(group, start, outputs, seconds)

    async def _run_in_thread(self, group: list[_Job]) -> None:
        """One predictor call in the inference thread."""
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        batch = np.stack([job.array for job in group])
        try:
            outputs, seconds = await loop.run_in_executor(self._executor, _timed, group[0].runner, batch)
        except Exception as e:
            self._fail(group, e)
            return
        self._finish(group, start, outputs, seconds)

    def _fail(self, group: list[_Job], error: Exception) -> None:
        """The model failed: every request in the batch gets the error."""
        log.exception("inference failed for a batch of %d", len(group))
        for job in group:
            if not job.future.done():
                job.future.set_exception(error)

    def _finish(
        self, group: list[_Job], start: float, outputs: tuple[np.ndarray, np.ndarray], seconds: float
    ) -> None:
        """Results to each job's future; the runner's time per image (a moving average) and the batch metrics."""
        runner, (probs, emb) = group[0].runner, outputs
        per_image, seconds = self._per_image.get(runner), seconds / len(group)
        self._per_image[runner] = seconds if per_image is None else 0.8 * per_image + 0.2 * seconds
        took = time.monotonic() - start
        for i, job in enumerate(group):
            if not job.future.done():
                queue_ms = (start - job.queued_at) * 1000
                job.future.set_result(BatchResult(probs[i], emb[i], len(group), queue_ms, took * 1000))
        if self.on_batch is not None:
            self.on_batch(len(group), took)


def _live_groups(jobs: list[_Job]) -> list[list[_Job]]:
    """The jobs still wanted (not given up, not past their deadline), grouped by runner in queue order."""
    now = time.monotonic()
    groups: dict[int, list[_Job]] = {}
    for job in jobs:
        if job.future.done():
            continue  # its request gave up (deadline, disconnect)
        if job.deadline <= now:
            job.future.cancel()
            continue
        groups.setdefault(id(job.runner), []).append(job)
    return list(groups.values())


def _timed(runner: BatchRunner, batch: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The runner's outputs for a batch, and the seconds the call took."""
    start = time.perf_counter()
    out = runner.run(batch)
    return out, time.perf_counter() - start


def _expire(futures: list[asyncio.Future[BatchResult]]) -> None:
    """The deadline passed: every image still waiting gets DeadlineExceededError."""
    for future in futures:
        if not future.done():
            future.set_exception(
                DeadlineExceededError("the model did not answer within the request deadline")
            )
