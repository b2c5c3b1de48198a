"""ML fixtures: one demo warehouse with the dbt marts per session, and a throwaway MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.features import build_features, load_inputs
from p3_common.ergast import TABLES
from p3_dagster.lib.dbt import build_marts_without_tests, dbt_executable
from p3_ingest.ingest import ingest_table
from p3_ingest.sources.demo import DemoSource
from p3_ingest.sources.dump import DumpSource
from tests.fixtures.snapshots import PublishedSnapshot

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_demo_warehouse(folder: Path) -> Path:
    """The demo championship (2020-2024) loaded raw, then every model up to the marts built by dbt.

    dbt runs without its tests (the dbt suite covers them) and writes its target and logs inside
    ``folder``, so it cannot disturb the session's manifest. About 7 s.
    """
    return build_warehouse(folder, DemoSource(seed=2024))


def build_warehouse(folder: Path, source: DemoSource | DumpSource) -> Path:
    """Every season of ``source`` loaded raw into ``folder``, then the marts built by dbt."""
    warehouse = folder / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for table in TABLES:
            ingest_table(con, source, table, run_id="tests-ml", seasons=source.seasons())
    done = build_marts_without_tests(
        REPO_ROOT / "dbt_project", dbt_executable(), warehouse, folder, target="test"
    )
    if done.returncode != 0:
        raise RuntimeError(f"dbt build of the demo marts failed:\n{done.stdout}{done.stderr}")
    return warehouse


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file holding the demo marts (read it; copy it before writing)."""
    return build_demo_warehouse(tmp_path_factory.mktemp("ml_demo"))


@pytest.fixture(scope="session")
def demo_features(demo_warehouse: Path) -> pd.DataFrame:
    """Features of every demo race entry."""
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        return build_features(load_inputs(con))


@pytest.fixture(scope="session")
def real_warehouse(
    tmp_path_factory: pytest.TempPathFactory, ergast_dir: Path, snapshot: PublishedSnapshot
) -> Path:
    """A warehouse holding the marts of the real 1950-2024 history (skips without the data; read
    it, copy it before writing): the one the session's published snapshot was built in (the same
    dump, every model up to the marts), so the real history is not built twice; built here (~30 s)
    only when that snapshot is not the real one."""
    if snapshot.kind == "real" and snapshot.warehouse is not None:
        return snapshot.warehouse
    return build_warehouse(tmp_path_factory.mktemp("ml_real"), DumpSource(ergast_dir))


@pytest.fixture
def mlflow_uri(tmp_path: Path) -> str:
    """A fresh SQLite tracking store in the test's tmp folder."""
    (tmp_path / "mlflow").mkdir()
    return f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
