"""API keys with roles and scopes, stored only as salted SHA-256 hashes in a JSON file; the key is shown once.

A role is how much a key may do (each role can do what the ones before it can); a scope is access to one kind of
sensitive data, granted key by key: `shopper-data` reads shopper profiles. Admin keys hold every scope.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from shoplens.errors import ShopLensError
from shoplens.files import file_lock, write_atomic

Role = Literal["reader", "merchant", "admin"]
ROLES: tuple[str, ...] = get_args(Role)  # in increasing power: each role can do what the ones before it can
Scope = Literal["shopper-data"]
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "slk"
FILE_VERSION = 1


class KeyFileError(ShopLensError):
    """The API keys file exists but cannot be read as one."""

    exit_code = 2


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (None when anonymous in open mode), its role, a merchant key's merchant, and
    its scopes."""

    key_id: str | None
    role: Role
    merchant: str | None = None
    scopes: frozenset[str] = frozenset()

    def holds(self, scope: Scope) -> bool:
        """Whether this caller may read the data of a scope (admins may read all)."""
        return self.role == "admin" or scope in self.scopes

    @property
    def owner(self) -> str:
        """Who owns what this caller creates (idempotency keys are scoped to it)."""
        return self.key_id or "anonymous"


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: never the key itself, only its salt and hash."""

    id: str
    role: Role
    salt: str
    sha256: str
    created: str
    label: str = ""
    merchant: str | None = None
    scopes: tuple[str, ...] = ()  # a file written before scopes existed has none


def role_allows(have: str, need: str) -> bool:
    """Whether a key with role `have` may do what needs role `need`."""
    return ROLES.index(have) >= ROLES.index(need)


def _digest(salt: str, key: str) -> str:
    """SHA-256 of the per-key salt followed by the key."""
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


class KeyStore:
    """A JSON file of hashed keys; reread when it changes, so keys created while serving work at once."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, KeyRecord] = {}

    def create(
        self, role: str, label: str = "", merchant: str | None = None, scopes: Iterable[str] = ()
    ) -> str:
        """Add a key with this role (a merchant key names its merchant) and scopes; return it, the only time it is
        in clear."""
        if role not in ROLES:
            raise KeyFileError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        scopes = tuple(sorted(set(scopes)))
        if unknown := [s for s in scopes if s not in SCOPES]:
            raise KeyFileError(f"unknown scope {unknown[0]!r}; scopes: {', '.join(SCOPES)}")
        if (role == "merchant") != bool(merchant):
            raise KeyFileError("a merchant key needs --merchant, and only a merchant key takes one")
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(16)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        record = KeyRecord(key_id, role, salt, _digest(salt, key), created, label, merchant, scopes)  # type: ignore[arg-type]
        with self._lock, self._file_lock():
            records = self._read()
            records[key_id] = record
            self._write(records)
        return key

    def records(self) -> list[KeyRecord]:
        """Stored keys (ids, roles, labels; no secrets)."""
        with self._lock:
            return list(self._current().values())

    def revoke(self, key_id: str) -> bool:
        """Delete a key by id; False if there was none."""
        with self._lock, self._file_lock():
            records = self._read()
            if records.pop(key_id, None) is None:
                return False
            self._write(records)
        return True

    def verify(self, key: str) -> Principal | None:
        """The principal a presented key belongs to, or None when it is not a valid key."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        with self._lock:
            record = self._current().get(parts[1])
        if record is None or not hmac.compare_digest(record.sha256, _digest(record.salt, key)):
            return None
        return Principal(record.id, record.role, record.merchant, frozenset(record.scopes))

    def _current(self) -> dict[str, KeyRecord]:
        """The records, reread only when the file was replaced or its size or modification time changed."""
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # every write is a new file (atomic rename)
        except OSError:
            self._stamp, self._records = None, {}
            return self._records
        if stamp != self._stamp:
            self._records, self._stamp = self._read(), stamp
        return self._records

    def _file_lock(self) -> AbstractContextManager[None]:
        """Held while changing the file, so two processes adding or revoking keys never lose each other's."""
        return file_lock(self.path.with_name(f".{self.path.name}.lock"))

    def _read(self) -> dict[str, KeyRecord]:
        """Parse the keys file (an absent file holds no keys)."""
        try:
            data: Any = json.loads(self.path.read_text())
            return {
                r["id"]: KeyRecord(**{**r, "scopes": tuple(r.get("scopes", ()))})
                for r in data.get("keys", [])
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise KeyFileError(f"{self.path}: not a readable API keys file ({e})") from e

    def _write(self, records: dict[str, KeyRecord]) -> None:
        """Write the file atomically, readable by its owner only."""
        body = {
            "version": FILE_VERSION,
            "keys": [{**r.__dict__, "scopes": list(r.scopes)} for r in records.values()],
        }
        write_atomic(self.path, (json.dumps(body, indent=2) + "\n").encode(), mode=0o600)
        self._stamp = None
