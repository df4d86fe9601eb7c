"""Persistence: the declarative base, the vector column type, engine and migrations, the tables of each domain.

Tables are grouped by the domain that owns them (`catalog`, `behaviour`, `ads`); importing any part of this
package registers all of them on `Base.metadata`, so the schema is always whole. This room imports no domain.
"""

from shoplens.db import ads, behaviour, catalog  # noqa: F401  (every table joins Base.metadata)
