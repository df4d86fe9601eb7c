"""Run the app under uvicorn with JSON logs and a graceful SIGTERM: not ready, drain in-flight requests, exit 0."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType

import uvicorn

from shoplens.api.app import create_app
from shoplens.api.service import Lifecycle
from shoplens.api.workers import Worker, supervise
from shoplens.config import Settings
from shoplens.malloc import pin_thresholds

log = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `fields` passed in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info") -> None:
    """Send every log record (ours and uvicorn's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class GracefulServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: mark the app as shutting down, wait for in-flight requests, then stop."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_timeout_s = drain_timeout_s
        self.draining_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal starts draining (and ends with exit status 0); a second one is uvicorn's own."""
        if self.draining_since is None and sig in (signal.SIGTERM, signal.SIGINT):
            self.lifecycle.shutting_down = True
            self.draining_since = time.monotonic()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Exit once draining has no request left in flight (or has taken drain_timeout_s)."""
        if self.draining_since is not None and not self.should_exit:
            waited = time.monotonic() - self.draining_since
            if self.lifecycle.inflight == 0 or waited > self.drain_timeout_s:
                log.info("drained: stopping", extra={"fields": {"waited_s": round(waited, 2)}})
                self.should_exit = True
        return await super().on_tick(counter)


def serve(settings: Settings, worker: Worker | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the exit status (0 after a graceful stop, 1 if the server never started).

    With settings.workers > 1 this process supervises that many workers (api/workers.py), each of which comes back
    here with its `worker`: the shared socket and admission counts.
    """
    configure_logging(settings.log_level)
    pin_thresholds(settings.malloc_mmap_threshold_kib)  # before the model and the catalogue are loaded
    if worker is None and settings.workers > 1:
        return supervise(settings)
    app = create_app(settings, worker=worker)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s) or None,
        lifespan="on",
        log_level=settings.log_level,
    )
    server = GracefulServer(config, app.state.service.lifecycle, settings.drain_timeout_s)
    server.run(sockets=[worker.sock] if worker else None)
    return 0 if server.started else 1
