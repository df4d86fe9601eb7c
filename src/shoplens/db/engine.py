"""Database connection: SQLite (WAL, busy timeout) by default, PostgreSQL through DATABASE_URL; Alembic migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shoplens.errors import ShopLensError

if TYPE_CHECKING:
    from alembic.config import Config

BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = "shoplens.db:migrations"


class DatabaseError(ShopLensError):
    """The database cannot be reached or used."""

    exit_code = 2
    http_status = 503


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for a user-given one: `postgresql://` / `postgres://` use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per connection: WAL, a busy timeout instead of 'database is locked', foreign keys on."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for a database URL; a SQLite file's folder is created."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError as e:
        raise DatabaseError(f"not a database URL: {url!r}") from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for this engine (no alembic.ini needed)."""
    from alembic.config import Config  # on first use: a server that never migrates starts without it

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as e:
        raise DatabaseError(f"cannot reach the database {engine.url.render_as_string()}: {e.orig}") from e


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory, the database migrated to the latest schema."""
    engine = make_engine(url)
    upgrade(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def default_url(data_dir: str | os.PathLike) -> str:
    """The embedded SQLite database under the data directory."""
    return f"sqlite:///{Path(data_dir) / 'catalog.db'}"
