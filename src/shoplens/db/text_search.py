"""Full-text search objects that migration 0003 creates by hand (no model describes them), and their names."""

from __future__ import annotations

FTS_TABLE = "product_text"  # SQLite: the FTS5 table over products(title, brand), and its shadow tables
PG_CONFIG = "english"  # PostgreSQL text search configuration (stemming like SQLite's Porter tokenizer)
PG_DOCUMENT = f"to_tsvector('{PG_CONFIG}', coalesce(title, '') || ' ' || coalesce(brand, ''))"
PG_INDEX = "ix_products_fulltext"
# SQLite: the triggers keeping the FTS table in step with `products` (0003 makes them; a migration that rebuilds
# `products` drops them with the old table and makes them again, 0008)
FTS_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON products BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, brand) VALUES (new.id, new.title, new.brand); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON products BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, brand) VALUES ('delete', old.id, old.title, old.brand); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF title, brand ON products BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, brand) VALUES ('delete', old.id, old.title, old.brand); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, brand) VALUES (new.id, new.title, new.brand); END",
)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For autogenerate and model comparisons: leave out the full-text objects the migrations manage by hand."""
    if name is None:
        return True
    return not ((type_ == "table" and name.startswith(FTS_TABLE)) or (type_ == "index" and name == PG_INDEX))
