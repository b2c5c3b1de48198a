"""The credential store: one interface, two backends (SQLite under ``P3_HOME``, or PostgreSQL
when ``P3_DATABASE_URL`` is set). Every value is a bound parameter."""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p3_common.settings import Settings

from .credentials import (
    Credential,
    Kind,
    Role,
    format_api_key,
    hash_secret,
    new_key_id,
    new_secret,
    scopes_up_to,
)

TABLE = "p3_api_credentials"
_COLUMNS = "key_id, kind, owner, role, scopes, secret_hash, created_at, last_used_at, revoked_at"
# Arbitrary constant: serialises the CREATE TABLE of workers starting together on PostgreSQL.
_PG_SCHEMA_LOCK = 0x7033_4B45


class CredentialStore(ABC):
    """API keys and OAuth clients: created (secret shown once), looked up, listed, revoked."""

    placeholder = "?"

    def create(
        self, kind: Kind, owner: str, role: Role, scopes: Sequence[str] | None = None
    ) -> tuple[Credential, str]:
        """A new credential and its secret: the whole API key, or the client secret.

        The secret is returned here only; the store keeps its hash.
        """
        key_id = new_key_id(kind)
        secret = new_secret()
        presented = format_api_key(key_id, secret) if kind == "api_key" else secret
        credential = Credential(
            key_id=key_id,
            kind=kind,
            owner=owner,
            role=role,
            scopes=tuple(scopes) if scopes is not None else scopes_up_to(role),
            created_at=datetime.now(UTC),
            secret_hash=hash_secret(presented),
        )
        p = self.placeholder
        self._execute(
            f"insert into {TABLE} ({_COLUMNS}) values ({', '.join([p] * 9)})",
            (
                credential.key_id,
                credential.kind,
                credential.owner,
                credential.role.value,
                " ".join(credential.scopes),
                credential.secret_hash,
                self._time(credential.created_at),
                None,
                None,
            ),
        )
        return credential, presented

    def get(self, key_id: str) -> Credential | None:
        """The credential ``key_id`` (revoked ones too), or None."""
        rows = self._execute(
            f"select {_COLUMNS} from {TABLE} where key_id = {self.placeholder}", (key_id,)
        )
        return self._credential(rows[0]) if rows else None

    def list_all(self) -> list[Credential]:
        """Every credential, oldest first."""
        rows = self._execute(f"select {_COLUMNS} from {TABLE} order by created_at, key_id", ())
        return [self._credential(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke ``key_id``; False when there is no such live credential."""
        p = self.placeholder
        rows = self._execute(
            f"update {TABLE} set revoked_at = {p} where key_id = {p} and revoked_at is null "
            "returning key_id",
            (self._time(datetime.now(UTC)), key_id),
        )
        return bool(rows)

    def touch(self, key_id: str, when: datetime) -> None:
        """Record that ``key_id`` was used at ``when``."""
        p = self.placeholder
        self._execute(
            f"update {TABLE} set last_used_at = {p} where key_id = {p}",
            (self._time(when), key_id),
        )

    def close(self) -> None:  # noqa: B027 - optional for backends without a connection
        """Release connections."""

    def _credential(self, row: Sequence[Any]) -> Credential:
        return Credential(
            key_id=row[0],
            kind=row[1],
            owner=row[2],
            role=Role(row[3]),
            scopes=tuple(row[4].split()),
            secret_hash=row[5],
            created_at=self._from_time(row[6]),
            last_used_at=self._from_time(row[7]) if row[7] is not None else None,
            revoked_at=self._from_time(row[8]) if row[8] is not None else None,
        )

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement with bound ``params``; the rows it returns."""

    def _time(self, when: datetime) -> Any:
        return when

    def _from_time(self, value: Any) -> datetime:
        return value


class SqliteStore(CredentialStore):
    """An embedded SQLite file, safe across processes (WAL; one short transaction a call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("pragma journal_mode=wal")
            db.execute(
                f"create table if not exists {TABLE} (key_id text primary key, kind text not null, "
                "owner text not null, role text not null, scopes text not null, "
                "secret_hash text not null, created_at text not null, last_used_at text, "
                "revoked_at text)"
            )
        db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            with db:
                return db.execute(sql, tuple(params)).fetchall()
        finally:
            db.close()

    def _time(self, when: datetime) -> Any:
        return when.astimezone(UTC).isoformat()

    def _from_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)


class PostgresStore(CredentialStore):
    """A PostgreSQL table, for deployments that already run one (``P3_DATABASE_URL``)."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self._lock = threading.Lock()
        self._conn: Any = None
        with self._lock, self._connection().transaction():
            conn = self._connection()
            conn.execute("select pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            conn.execute(
                f"create table if not exists {TABLE} (key_id text primary key, kind text not null, "
                "owner text not null, role text not null, scopes text not null, "
                "secret_hash text not null, created_at timestamptz not null, "
                "last_used_at timestamptz, revoked_at timestamptz)"
            )

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self._conn

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            for attempt in (1, 2):  # one reconnect: the server may have dropped an idle connection
                try:
                    cursor = self._connection().execute(sql, tuple(params))
                    return cursor.fetchall() if cursor.description else []
                except self._psycopg.OperationalError:
                    if attempt == 2 or self._conn is None or not self._conn.closed:
                        raise
            raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def sqlite_path(settings: Settings) -> Path:
    """Where the embedded store lives: ``$P3_HOME/api/keys.sqlite3``."""
    return settings.home / "api" / "keys.sqlite3"


def open_store(settings: Settings) -> CredentialStore:
    """PostgreSQL when ``P3_DATABASE_URL`` is set, else the SQLite file under ``P3_HOME``."""
    if settings.database_url:
        return PostgresStore(settings.database_url)
    return SqliteStore(sqlite_path(settings))
