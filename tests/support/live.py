"""The app under a real uvicorn on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Self

import httpx
import uvicorn
from fastapi import FastAPI

from shoplens.api.server import uvicorn_config
from shoplens.config import Settings


def free_port() -> int:
    """A port that was free a moment ago on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(base: str, timeout: float = 120) -> None:
    """Poll /readyz until 200."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} never became ready")


@dataclass
class LiveServer:
    """A uvicorn server in a thread on a free loopback port; `base` is its URL once entered.

    With `settings`, uvicorn is configured as `shoplens serve` configures it (timeouts, connection limits).
    """

    app: FastAPI
    timeout: float = 120
    settings: Settings | None = None
    base: str = ""
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    sock: socket.socket | None = None

    def __enter__(self) -> Self:
        config = (
            uvicorn_config(self.app, self.settings)
            if self.settings is not None
            else uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on")
        )
        self.server = uvicorn.Server(config)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        try:
            wait_until_ready(self.base, timeout=self.timeout)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server and self.thread and self.sock
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
