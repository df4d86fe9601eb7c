"""Product catalogue: database, image store, ingestion, duplicates, QA."""
