"""Full-text search over product titles and brands: SQLite FTS5, PostgreSQL a GIN index on a tsvector expression.

SQLite keeps an external-content FTS5 table (`product_text`, Porter stemming, diacritics folded) in step with
`products` through three triggers. A later migration that rebuilds `products` in batch mode (copy and move)
drops those triggers: it must create them again. PostgreSQL needs no copy: an expression index over
to_tsvector('english', title || ' ' || brand), the expression `shoplens.catalog.textsearch` queries with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 21:45:00
"""

from __future__ import annotations

from alembic import op

from shoplens.db.text_search import FTS_TABLE, FTS_TRIGGERS, PG_DOCUMENT, PG_INDEX

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_UP = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(title, brand, content='products', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    *FTS_TRIGGERS,
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # products that exist already
)
SQLITE_DOWN = (
    *(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{event}" for event in ("insert", "delete", "update")),
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(f"CREATE INDEX {PG_INDEX} ON products USING gin ({PG_DOCUMENT})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
