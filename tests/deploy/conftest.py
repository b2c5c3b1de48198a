"""Real services for the deployment tests: a throwaway PostgreSQL database per test, and promtool."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.fixtures.postgres import throwaway_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (and its ``_mlflow`` twin), dropped after."""
    with throwaway_database("p3_deploy_test", also_drop=("_mlflow",)) as url:
        yield url


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary (Debian package prometheus); skips when it is absent."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not found: apt-get install prometheus")
    return found
