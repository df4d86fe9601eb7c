"""When the database cannot work for now — its file made read-only, its disk full, its server stopped — every
statement fails with `DatabaseUnavailableError` (a 503 with Retry-After, never a 500), and `Availability` tells
a readiness probe so. Nothing here needs a restart: connections that cannot write are replaced as they fail,
and the pool is renewed whenever the database goes away or comes back.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError

from shoplens.errors import ShopLensError

log = logging.getLogger(__name__)
READ_ONLY = "readonly database"  # SQLite's "attempt to write a readonly database"


class DatabaseUnavailableError(ShopLensError):
    """The database cannot be used now (read-only, full, stopped or unreachable); the request may be retried."""

    exit_code = 2
    http_status = 503
    code = "service_unavailable"


def _unavailable(ctx: ExceptionContext) -> BaseException | None:
    """SQLAlchemy's `handle_error` hook: a database that cannot work now becomes DatabaseUnavailableError."""
    if ctx.is_pre_ping:  # the pool's liveness check: it reconnects by itself
        return None
    if not (ctx.is_disconnect or isinstance(ctx.sqlalchemy_exception, (OperationalError, InterfaceError))):
        return None  # constraint violations and the like are the caller's to handle
    if (
        READ_ONLY in str(ctx.original_exception)
        and ctx.engine is not None
        and not sqlite_read_only(ctx.engine)
    ):
        ctx.is_disconnect = (
            True  # opened while the file was read-only, it stays so: replace it (and its pool)
        )
    log.warning("database unavailable: %s", ctx.original_exception)
    return DatabaseUnavailableError(
        "the database is unavailable (read-only, full or unreachable); retry later"
    )


def watch(engine: Engine) -> None:
    """Make the engine's unavailable-database errors DatabaseUnavailableError; an SQLite connection is taken from
    the pool read-only (`query_only`) while its file cannot be written, so every write is refused alike."""
    event.listen(engine, "handle_error", _unavailable)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):

        def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA query_only={'ON' if sqlite_read_only(engine) else 'OFF'}")
            cur.close()

        event.listen(engine, "checkout", checkout)


def sqlite_read_only(engine: Engine) -> bool:
    """Whether this process may not write an SQLite database's files (chmod, an immutable file, a read-only mount)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return False
    files = [path, *(p for p in (path + "-wal", path + "-shm") if os.path.exists(p))]
    return not all(os.access(p, os.W_OK) for p in files)


class Availability:
    """Whether the database can take writes now, for a readiness probe; renews the pool when that changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.down = False
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        """Why the database cannot take writes now, or None when it can (a quick query; blocking)."""
        reason = "the database is read-only" if sqlite_read_only(self.engine) else None
        if reason is None:
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except DatabaseUnavailableError as e:
                reason = str(e)
        with self._lock:
            changed, self.down = self.down != (reason is not None), reason is not None
        if changed:  # connections opened before hold the old state (a read-only file handle, a dead socket)
            log.warning("database %s", f"unavailable: {reason}" if reason else "available again")
            self.engine.dispose()
        return reason
