"""On SQLite a deleted product's or image's id is never given to a new one (AUTOINCREMENT).

Without it SQLite hands the next row the id of the newest row deleted, so a client holding that id (a shop page, a
cache, an event log kept elsewhere) reached another product. Both tables are rebuilt with AUTOINCREMENT, their rows
and ids copied; the migration runs with foreign keys off (`db.engine.upgrade`), so dropping the old tables cascades
to nothing, and checks them before it ends. Rebuilding `products` drops its full-text triggers (0003): they are made
again. PostgreSQL never reuses a sequence's values: nothing to do there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:05:00
"""

from __future__ import annotations

from alembic import op

from shoplens.db.text_search import FTS_TRIGGERS

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0008 rebuilds tables: run it through shoplens.db.engine.upgrade (foreign keys off)"
        )
    for table in ("products", "product_images"):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    for statement in FTS_TRIGGERS:  # dropped with the old table
        op.execute(statement)
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"0008: rows whose foreign keys point nowhere after the rebuild: {broken[:5]}")


def downgrade() -> None:
    """Nothing to undo that matters: ids kept growing."""
