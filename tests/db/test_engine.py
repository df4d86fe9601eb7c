"""The database layer: migrations equal the models on both backends, SQLite pragmas, clear errors."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from shoplens.db.base import Base
from shoplens.db.engine import DatabaseError, make_engine, normalize_url, upgrade
from shoplens.db.text_search import include_name


def test_migrations_create_exactly_the_models_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'c.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "sub").is_dir()
    engine.dispose()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db"])
def test_unusable_urls_are_clear_errors(url: str) -> None:
    with pytest.raises(DatabaseError):
        make_engine(url)


def test_unreachable_postgres_is_a_clear_error() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseError, match="cannot reach"):
        upgrade(engine)


def _at_once(url: str, start: Any, results: Any, migrate: bool) -> None:
    """One process connecting to (or migrating) the database when all are ready; puts what happened."""
    engine = make_engine(url)
    start.wait(timeout=60)
    try:
        if migrate:
            upgrade(engine)
        else:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        results.put("ok")
    except Exception as e:  # the failure is the result: the parent names it
        results.put(f"{type(e).__name__}: {e}")
    finally:
        engine.dispose()


def run_at_once(url: str, n: int, migrate: bool) -> list[str]:
    """What each of n processes saw, started together on one database."""
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_at_once, args=(url, start, results, migrate)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return outcomes


def test_processes_opening_a_new_database_at_once_all_get_the_schema(database_url: str) -> None:
    n = 4
    assert run_at_once(database_url, n, migrate=True) == ["ok"] * n  # before: "table ... already exists"
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_connections_to_a_new_sqlite_file_at_once_all_open(tmp_path) -> None:
    for i in range(10):  # each round about one in five failed: SQLite's WAL switch deadlocked
        url = f"sqlite:///{tmp_path / f'catalog{i}.db'}"
        assert run_at_once(url, 8, migrate=False) == ["ok"] * 8, f"round {i}"
