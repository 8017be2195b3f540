"""API keys: created with a role, stored hashed, verified, revoked.

A key reads ``cs_<prefix>_<secret>``: the prefix (8 hex digits) finds the row, the secret
(32 bytes, URL-safe) is checked against its SHA-256 in constant time. Secrets are random
and long, so a fast hash is enough; the key itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from engine.errors import ConfigError
from engine.store import rows
from engine.store.schema import ApiKeyRow

if TYPE_CHECKING:
    from engine.store.repo import Store

__all__ = ["ROLES", "ApiKey", "KeyStore"]

ROLES = ("analyst", "admin")
"""analyst: read everything; admin: also write (driver edits) and run jobs."""


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never its secret)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, role: str) -> bool:
        """Admin keys may do what analyst keys may, and more."""
        return self.active and (self.role == role or self.role == "admin")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(r: ApiKeyRow) -> ApiKey:
    return ApiKey(r.id, r.name, r.role, r.prefix, r.created_at, r.revoked_at)


class KeyStore:
    """The store's API keys (reached as ``Store.keys``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key and its full text (shown once; only its hash is stored)."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        name = " ".join(name.split())
        if not name or len(name) > 120:
            raise ConfigError("a key name needs 1 to 120 characters")
        prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        with self._store._write() as s:
            row = ApiKeyRow(
                name=name,
                role=role,
                prefix=prefix,
                secret_hash=_digest(secret),
                created_at=rows.now(),
            )
            s.add(row)
            s.flush()
            key = _key(row)
        return key, f"cs_{prefix}_{secret}"

    def verify(self, text: str) -> ApiKey | None:
        """The active key ``text`` is, or None (malformed, unknown, wrong or revoked)."""
        parts = text.split("_", 2)
        if len(parts) != 3 or parts[0] != "cs" or len(parts[1]) != 8:
            return None
        with self._store._read() as s:
            row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == parts[1])).first()
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.secret_hash, _digest(parts[2])):
                return None
            return _key(row)

    def list(self) -> list[ApiKey]:
        with self._store._read() as s:
            return [_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke(self, key_id: int) -> bool:
        """Revoke a key; False when there is no such active key."""
        with self._store._write() as s:
            done = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=rows.now())
            )
            return bool(getattr(done, "rowcount", 0))
