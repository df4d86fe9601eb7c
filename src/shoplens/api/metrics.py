"""Prometheus metrics of one app (its own registry): requests, latency, queue depth, batch sizes, model version."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's metrics, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "shoplens_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "shoplens_http_request_duration_seconds",
            "Time from request to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.queue_depth = Gauge("shoplens_queue_depth", "Images waiting for the model.", registry=reg)
        self.batch_size = Histogram(
            "shoplens_batch_size", "Images per model call.", buckets=BATCH_BUCKETS, registry=reg
        )
        self.inference = Histogram(
            "shoplens_inference_duration_seconds",
            "Time of one model call.",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.model_info = Gauge(
            "shoplens_model_info", "The model version serving (1).", ["name", "version"], registry=reg
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:  # the labelled children, looked up once per (route, method, status)
            series = self._series[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one model call."""
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth from `depth` at every scrape."""
        self.queue_depth.set_function(depth)

    def set_model(self, name: str | None, version: str | None) -> None:
        """Show which version serves (none: no series)."""
        self.model_info.clear()
        if name and version:
            self.model_info.labels(name, version).set(1)

    def render(self) -> bytes:
        """All metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)
