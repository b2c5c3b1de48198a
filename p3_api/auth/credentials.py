"""Roles, credential records, and how API keys and client secrets are made and checked."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

Kind = Literal["api_key", "client"]

KEY_PREFIX = "p3k_"
CLIENT_PREFIX = "p3c_"
_KEY = re.compile(r"^p3k_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_CLIENT_ID = re.compile(r"^p3c_[0-9a-f]{16}$")


class Role(StrEnum):
    """What a caller may do; each role may do everything the roles before it may."""

    viewer = "viewer"
    analyst = "analyst"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def scope(self) -> str:
        """The OAuth scope granting this role (``p3:viewer``, ...)."""
        return f"p3:{self.value}"

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}  # every request asks; the enum is fixed


def scopes_up_to(role: Role) -> tuple[str, ...]:
    """Every scope a credential of ``role`` may ask for."""
    return tuple(r.scope for r in Role if role.allows(r))


def role_of_scopes(scopes: list[str] | tuple[str, ...]) -> Role | None:
    """The highest role the ``scopes`` grant (None: no P3 scope)."""
    granted = [r for r in Role if r.scope in scopes]
    return max(granted, key=lambda r: r.rank) if granted else None


@dataclass(frozen=True)
class Credential:
    """One API key or OAuth client: never its secret, only the secret's hash."""

    key_id: str
    kind: Kind
    owner: str
    role: Role
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    secret_hash: str = field(default="", repr=False)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def hash_secret(secret: str) -> str:
    """SHA-256 of a presented secret (hex).

    Our secrets are 256 random bits made by ``secrets``, so a fast hash is enough: nobody can guess
    or brute-force a preimage, and rainbow tables or salts only matter for low-entropy passwords.
    A slow KDF (bcrypt, argon2) would cost milliseconds of CPU on every request for no gain.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(credential: Credential, secret: str) -> bool:
    """Whether ``secret`` is the credential's, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), credential.secret_hash)


def new_key_id(kind: Kind) -> str:
    """A public identifier: ``p3k_``/``p3c_`` hex for clients, bare hex for API keys."""
    ident = secrets.token_hex(8)
    return f"{CLIENT_PREFIX}{ident}" if kind == "client" else ident


def new_secret() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def format_api_key(key_id: str, secret: str) -> str:
    """The key a caller sends: ``p3k_<key id>_<secret>``."""
    return f"{KEY_PREFIX}{key_id}_{secret}"


def parse_api_key(text: str) -> tuple[str, str] | None:
    """``(key id, whole key)`` of a well-formed API key, else None."""
    match = _KEY.match(text)
    return (match.group(1), text) if match else None


def is_client_id(text: str) -> bool:
    return bool(_CLIENT_ID.match(text))
