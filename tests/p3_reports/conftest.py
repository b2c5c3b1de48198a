"""Fixtures of the report tests: the session's published snapshot, only when it is the real one."""

from __future__ import annotations

import pytest

from tests.fixtures.snapshots import PublishedSnapshot


@pytest.fixture
def real_snapshot(snapshot: PublishedSnapshot) -> PublishedSnapshot:
    """The snapshot, only when it holds the real history (skips on demo data)."""
    if snapshot.kind != "real":
        pytest.skip("needs the real Ergast history (set P3_ERGAST_DIR); ran on demo data")
    return snapshot
