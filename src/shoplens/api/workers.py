"""`shoplens serve --workers N`: N pre-forked server processes sharing one listening socket.

The supervisor binds the socket and creates the shared admission counts before forking, so every worker accepts on
the same port and the in-flight limit (settings.max_inflight) holds across all of them. Each worker is a whole
service: it loads the active model itself and follows activations and index switches by polling the model store
and the index files (settings.reload_interval_s), as a single server does. SIGTERM (or SIGINT) to the supervisor
reaches every worker as SIGTERM: each drains its in-flight requests and exits; the supervisor exits 0 when all did.
A worker that dies (killed, crashed after it started) is replaced; one that never started stops them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from shoplens.config import Settings
from shoplens.errors import ShopLensError
from shoplens.processes import usable_cpus

log = logging.getLogger(__name__)
FORK = multiprocessing.get_context("fork")  # workers start from the supervisor's imports, nothing loaded yet
PR_SET_PDEATHSIG = 1
RESTART_DELAY_S = 1.0


class SharedAdmission:
    """Admitted model work per worker in shared memory: a worker admits only while all of them hold < limit."""

    def __init__(self, workers: int, limit: int) -> None:
        self.limit = limit
        self._lock = FORK.Lock()
        self._counts: Any = FORK.RawArray(ctypes.c_int, workers)  # guarded by _lock

    def admit(self, worker: int) -> bool:
        """Take a slot for `worker`; False when every slot of every worker is taken."""
        with self._lock:
            if sum(self._counts) >= self.limit:
                return False
            self._counts[worker] += 1
            return True

    def release(self, worker: int) -> None:
        """Give one of `worker`'s slots back."""
        with self._lock:
            self._counts[worker] -= 1

    def reset(self, worker: int) -> None:
        """Forget a dead worker's slots (its replacement starts with none)."""
        with self._lock:
            self._counts[worker] = 0

    def admitted(self) -> int:
        """Slots taken across all workers."""
        with self._lock:
            return sum(self._counts)


@dataclass(frozen=True)
class Worker:
    """What a worker process gets from its supervisor: its number, the shared socket and admission counts."""

    index: int
    sock: socket.socket
    admission: SharedAdmission


def bind(settings: Settings) -> socket.socket:
    """The listening socket the server accepts on (IPv6 when the host is an IPv6 address); a clear error when
    another process holds the port."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), settings.port))
    except OSError as e:
        sock.close()
        raise ShopLensError(
            f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e} (is another server running there?)"
        ) from e
    sock.set_inheritable(True)
    return sock


Serve = Callable[[Settings, Worker], int]  # one worker's server (api.server.serve): its exit status


def _worker_main(settings: Settings, worker: Worker, serve: Serve) -> None:
    """A worker process: its own process group (a terminal's Ctrl-C reaches the supervisor only, which passes it on
    as one SIGTERM), dying with the supervisor, serving until told to stop."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    raise SystemExit(serve(settings, worker))


class Supervisor:
    """Starts the workers, replaces those that die, and passes stop signals on to them."""

    def __init__(self, settings: Settings, serve: Serve) -> None:
        if settings.threads is None:  # N workers each using every core would only fight over them
            threads = max(1, usable_cpus() // settings.workers)
            settings = settings.model_copy(update={"threads": threads})
        self.settings = settings
        self.serve = serve
        self.sock = bind(settings)
        self.admission = SharedAdmission(settings.workers, settings.max_inflight)
        self.procs: dict[int, BaseProcess] = {}
        self.stopping = 0  # stop signals received

    def start(self, index: int) -> None:
        """Fork worker `index` (its admission slots start empty)."""
        self.admission.reset(index)
        worker = Worker(index, self.sock, self.admission)
        proc = FORK.Process(
            target=_worker_main, args=(self.settings, worker, self.serve), name=f"shoplens-worker-{index}"
        )
        proc.start()
        self.procs[index] = proc
        log.info("worker started", extra={"fields": {"worker": index, "pid": proc.pid}})

    def on_signal(self, sig: int, frame: FrameType | None) -> None:
        """Pass a stop signal on as SIGTERM: the first drains each worker, a second stops it at once."""
        self.stopping += 1
        for proc in self.procs.values():
            if proc.pid and proc.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    def run(self) -> int:
        """Serve until stopped; 0 when every worker stopped cleanly, 1 when one could not start."""
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        port = self.sock.getsockname()[1]
        log.info(
            "serving on http://%s:%d with %d workers",
            host,
            port,
            self.settings.workers,
            extra={"fields": {"port": port}},
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        for index in range(self.settings.workers):
            self.start(index)
        status = 0
        while self.procs:
            time.sleep(0.2)
            for index, proc in list(self.procs.items()):
                if proc.exitcode is None:
                    continue
                del self.procs[index]
                if self.stopping:
                    status = status or (proc.exitcode != 0)
                elif (
                    proc.exitcode == 1
                ):  # the server never started (see serve): starting again would not help
                    log.error("worker could not start: stopping", extra={"fields": {"worker": index}})
                    status = 1
                    self.on_signal(signal.SIGTERM, None)
                else:
                    log.error(
                        "worker died: replacing it",
                        extra={"fields": {"worker": index, "exitcode": proc.exitcode}},
                    )
                    time.sleep(RESTART_DELAY_S)
                    self.start(index)
        self.sock.close()
        return int(status)


def supervise(settings: Settings, serve: Serve) -> int:
    """Run settings.workers worker processes on one port, each in `serve` (api.server's), until SIGTERM/SIGINT; the
    exit status."""
    return Supervisor(settings, serve).run()
