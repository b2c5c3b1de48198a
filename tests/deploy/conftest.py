"""Real services for the deployment tests: a throwaway PostgreSQL database per test, and promtool."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import pytest

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (and its ``_mlflow`` twin), dropped after."""
    psycopg = pytest.importorskip("psycopg")
    name = f"p3_deploy_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'create database "{name}"')  # a generated name, not input
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            for database in (name, f"{name}_mlflow"):
                admin.execute(f'drop database if exists "{database}" with (force)')


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary (Debian package prometheus); skips when it is absent."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not found: apt-get install prometheus")
    return found
