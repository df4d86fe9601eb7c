"""Full-text search objects that migration 0003 creates by hand (no model describes them), and their names."""

from __future__ import annotations

FTS_TABLE = "product_text"  # SQLite: the FTS5 table over products(title, brand), and its shadow tables
PG_CONFIG = "english"  # PostgreSQL text search configuration (stemming like SQLite's Porter tokenizer)
PG_DOCUMENT = f"to_tsvector('{PG_CONFIG}', coalesce(title, '') || ' ' || coalesce(brand, ''))"
PG_INDEX = "ix_products_fulltext"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For autogenerate and model comparisons: leave out the full-text objects the migrations manage by hand."""
    if name is None:
        return True
    return not ((type_ == "table" and name.startswith(FTS_TABLE)) or (type_ == "index" and name == PG_INDEX))
