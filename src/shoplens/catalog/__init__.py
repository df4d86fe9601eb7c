"""Product catalogue: image store, ingestion, vector spaces, duplicates, jobs, fetching, named queries, QA.

Its tables live in `shoplens.db.catalog`.
"""
