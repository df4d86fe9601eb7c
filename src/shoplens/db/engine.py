"""Database connection: SQLite (WAL, busy timeout) by default, PostgreSQL through DATABASE_URL; Alembic migrations."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.availability import DatabaseUnavailableError, watch
from shoplens.errors import ShopLensError

if TYPE_CHECKING:
    from alembic.config import Config

BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = "shoplens.db:migrations"


class DatabaseError(ShopLensError):
    """The database cannot be reached or used."""

    exit_code = 2
    http_status = 503


FOLD = "shoplens_fold"  # on SQLite, a Unicode lower(): case-insensitive text filters (catalog.queries)


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for a user-given one: `postgresql://` / `postgres://` use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _switch_to_wal(cur: Any) -> None:
    """Put the database in WAL mode, waiting out another connection's switch.

    Connections switching a new database at once can deadlock in SQLite, which then answers "database is locked"
    at once instead of calling the busy handler: one of them retries until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))  # apart, so the next tries do not meet again


def _fold(text: str | None) -> str | None:
    """SQLite's FOLD(text): lower case for every script (its own lower() knows ASCII letters only)."""
    return None if text is None else text.lower()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per connection: WAL, a busy timeout instead of 'database is locked', foreign keys on, FOLD()."""
    dbapi_conn.create_function(FOLD, 1, _fold, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _switch_to_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cur.execute(
        "PRAGMA secure_delete=ON"
    )  # deleted rows (an erased shopper's) are overwritten, not left in pages
    cur.close()


def checkpoint(engine: Engine, vacuum: bool = False) -> None:
    """Fold SQLite's write-ahead log into the database file and empty it (after an erasure); nothing elsewhere.

    With vacuum, the file is rewritten first (free pages dropped): slow on a large catalogue, so on request only.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if vacuum:
                conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def make_engine(url: str) -> Engine:
    """An engine for a database URL; a SQLite file's folder is created."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError as e:
        raise DatabaseError(f"not a database URL: {url!r}") from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            os.close(
                os.open(parsed.database, os.O_CREAT | os.O_WRONLY, 0o600)
            )  # new: owner-only (WAL follows)
        engine = create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        watch(engine)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    engine = create_engine(parsed, pool_pre_ping=True)
    watch(engine)
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for this engine (no alembic.ini needed)."""
    from alembic.config import Config  # on first use: a server that never migrates starts without it

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


MIGRATION_LOCK = 0x5A0B1E45  # the PostgreSQL advisory lock key that serialises ShopLens migrations


def _lock_for_migration(conn: Connection) -> None:
    """Hold the database against other migrations until this transaction ends.

    Processes opening a new database at once (a server and an ingest, bulk workers) would otherwise each read
    "no schema" and create the same tables: all but one failed with "table ... already exists".
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock; others wait on the busy timeout
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent, one process at a time)."""
    from alembic import command

    cfg = alembic_config(engine)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.begin() as conn:
            if (
                sqlite
            ):  # a migration that rebuilds a table must not cascade its drop (outside a transaction only)
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            _lock_for_migration(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except (OperationalError, DatabaseUnavailableError) as e:
        why = e.__cause__ if isinstance(e, DatabaseUnavailableError) else e.orig
        raise DatabaseError(f"cannot reach the database {engine.url.render_as_string()}: {why}") from e
    finally:
        if sqlite:  # the migration's connection (foreign keys off) is never lent out again
            engine.dispose()


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory, the database migrated to the latest schema."""
    engine = make_engine(url)
    upgrade(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def default_url(data_dir: str | os.PathLike) -> str:
    """The embedded SQLite database under the data directory."""
    return f"sqlite:///{Path(data_dir) / 'catalog.db'}"
