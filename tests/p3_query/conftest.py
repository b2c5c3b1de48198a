"""A published snapshot for the query engine tests: the real history when present, else the demo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg
import duckdb
import pytest

from p3_common.settings import Settings
from p3_query.catalog import Catalog
from tests.dbt.conftest import build_graph_in, explicit_settings
from tests.fixtures.real_data import real_ergast_dir


@dataclass(frozen=True)
class PublishedSnapshot:
    """A snapshot file built by the whole graph, and which data it holds."""

    path: Path
    kind: Literal["real", "demo"]

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A plain read-only connection for the independent SQL answers."""
        return duckdb.connect(str(self.path), read_only=True)

    def query(
        self, sql: str, params: list[object] | dict[str, object] | None = None
    ) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, params or []).fetchall()

    def catalog(self) -> Catalog:
        with self.connect() as con:
            return Catalog.load(con)


def build_snapshot(settings: Settings) -> dg.ExecuteInProcessResult:
    """Materialise the published snapshot and everything upstream of it, over every season.

    Asset checks are left out (tests/dbt and the quality suites run them): the engine only needs
    the published marts, and skipping ~600 checks halves the build.
    """
    selection = (
        dg.AssetSelection.assets(dg.AssetKey(["serving", "warehouse_snapshot"]))
        .upstream()
        .without_checks()
    )
    return build_graph_in(settings, dg.DagsterInstance.ephemeral(), selection)


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublishedSnapshot]:
    """Raw -> dbt -> published snapshot, built once per session (~35 s on the real data).

    The real Ergast history when this machine has it, the synthetic demo championship otherwise,
    so the engine is checked against independent SQL either way. P3_QUERY_TEST_SNAPSHOT=<file>
    reuses an already published snapshot instead (a faster edit-test loop).
    """
    reuse = os.environ.get("P3_QUERY_TEST_SNAPSHOT")
    if reuse:
        # Dev loop: reuse a snapshot built earlier (real if it holds the 1950 season).
        with duckdb.connect(reuse, read_only=True) as con:
            first = con.execute("select min(season) from marts.dim_races").fetchone()[0]
        yield PublishedSnapshot(Path(reuse), "real" if first == 1950 else "demo")
        return
    ergast = real_ergast_dir()
    home = tmp_path_factory.mktemp("query_snapshot")
    if ergast is not None:
        settings = explicit_settings(home, source="dump", ergast_dir=ergast)
    else:
        settings = explicit_settings(home)
    assert build_snapshot(settings).success, "the snapshot did not build; see tests/dbt"
    assert settings.serving_duckdb_path is not None
    yield PublishedSnapshot(settings.serving_duckdb_path, "real" if ergast else "demo")


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
