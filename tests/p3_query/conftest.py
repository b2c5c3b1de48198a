"""Fixtures of the query engine tests: the session's published snapshot (tests/fixtures/snapshots.py)
and its catalog."""

from __future__ import annotations

import pytest

from p3_query.catalog import Catalog
from tests.fixtures.snapshots import PublishedSnapshot


@pytest.fixture(scope="session")
def catalog(snapshot: PublishedSnapshot) -> Catalog:
    """The snapshot's catalog (statistics and dims)."""
    return snapshot.catalog()


@pytest.fixture
def real_snapshot(snapshot: PublishedSnapshot) -> PublishedSnapshot:
    """The snapshot, only when it holds the real history (skips on demo data)."""
    if snapshot.kind != "real":
        pytest.skip("needs the real Ergast history (set P3_ERGAST_DIR); ran on demo data")
    return snapshot
