"""The credential store contract, run on both backends (SQLite file and a real PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from p3_api.auth.credentials import Role, hash_secret, parse_api_key, secret_matches
from p3_api.auth.store import CredentialStore, PostgresStore, SqliteStore, open_store
from p3_common.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CredentialStore]:
    if request.param == "sqlite":
        backend: CredentialStore = SqliteStore(tmp_path / "keys.sqlite3")
    else:
        backend = PostgresStore(request.getfixturevalue("postgres_url"))
    yield backend
    backend.close()


def test_a_key_is_shown_once_and_only_its_hash_is_stored(store: CredentialStore) -> None:
    credential, key = store.create("api_key", "alice", Role.analyst)
    parsed = parse_api_key(key)
    assert parsed is not None and parsed[0] == credential.key_id
    stored = store.get(credential.key_id)
    assert stored is not None
    assert stored.secret_hash == hash_secret(key) and key not in repr(stored)
    assert secret_matches(stored, key) and not secret_matches(stored, key[:-1] + "x")
    assert (stored.owner, stored.role, stored.kind) == ("alice", Role.analyst, "api_key")
    assert stored.scopes == ("p3:viewer", "p3:analyst")


def test_revoke_list_and_last_used(store: CredentialStore) -> None:
    key, _ = store.create("api_key", "bob", Role.viewer)
    client, secret = store.create("client", "etl-service", Role.admin)
    assert client.key_id.startswith("p3c_") and len(secret) == 43
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    store.touch(key.key_id, when)
    assert store.revoke(key.key_id) is True
    assert store.revoke(key.key_id) is False  # already revoked
    assert store.revoke("no-such-key") is False
    listed = {c.key_id: c for c in store.list_all()}
    assert set(listed) == {key.key_id, client.key_id}
    assert listed[key.key_id].revoked and listed[key.key_id].last_used_at == when
    assert not listed[client.key_id].revoked and listed[client.key_id].last_used_at is None


def test_values_are_bound_not_spliced_into_sql(store: CredentialStore) -> None:
    owner = "x'); drop table p3_api_credentials; --"
    credential, _ = store.create("api_key", owner, Role.viewer)
    assert store.get("' or '1'='1") is None
    stored = store.get(credential.key_id)
    assert stored is not None and stored.owner == owner


def test_the_default_store_is_a_sqlite_file_under_p3_home(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))
    _, key = store.create("api_key", "carol", Role.viewer)
    with sqlite3.connect(tmp_path / "api" / "keys.sqlite3") as db:
        (stored,) = db.execute("select secret_hash from p3_api_credentials").fetchone()
    assert stored == hash_secret(key) and key not in stored


def test_database_url_selects_postgres(postgres_url: str, tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path, database_url=postgres_url))
    try:
        assert isinstance(store, PostgresStore)
        credential, _ = store.create("api_key", "dana", Role.admin)
        # A second store (another worker) sees it: the table is shared, not per process.
        other = open_store(Settings(home=tmp_path, database_url=postgres_url))
        assert other.get(credential.key_id) is not None
        other.close()
    finally:
        store.close()
    assert not (tmp_path / "api" / "keys.sqlite3").exists()
