"""Where traces of a shopper remain: stored text values in any table, and files holding given bytes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.base import Base


def mentions(sessions: sessionmaker[Session], needle: str) -> list[str]:
    """'table.column' for every stored text value, in every table, that contains the needle."""
    found = []
    with sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                found += [
                    f"{table.name}.{col}"
                    for col, value in row.items()
                    if isinstance(value, str) and needle in value
                ]
    return found


def files_holding(paths: Iterable[Path], needles: Iterable[bytes]) -> list[str]:
    """The files (under these files and folders) whose bytes contain any of the needles."""
    needles = list(needles)
    files = {f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()}
    return sorted(str(f) for f in files if any(n in f.read_bytes() for n in needles))
