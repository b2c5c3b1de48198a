"""Warehouses for the quality tests: the small demo championship and the real 1950-2024 history."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from p3_common.ergast import TABLES
from p3_ingest.ingest import ingest_table
from p3_ingest.sources.dump import DumpSource
from p3_ingest.sources.source import ErgastSource
from tests.fixtures.dumps import small_demo_source


def load_warehouse(path: Path, source: ErgastSource, *, run_id: str = "load-1") -> Path:
    """Load every table of ``source`` (all its seasons) into a DuckDB file, as the raw assets do."""
    with duckdb.connect(str(path)) as con:
        seasons = source.seasons()
        for table in TABLES:
            ingest_table(con, source, table, run_id=run_id, seasons=seasons)
    return path


@pytest.fixture(scope="session")
def demo_warehouse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo championship (2023-2024, three races each), loaded once per session."""
    folder = tmp_path_factory.mktemp("demo_warehouse")
    return load_warehouse(folder / "warehouse.duckdb", small_demo_source())


@pytest.fixture
def demo_con(demo_warehouse_file: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private read-write copy of the demo warehouse, for tests that inject faults."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse_file, copy)
    with duckdb.connect(str(copy)) as con:
        yield con


@pytest.fixture(scope="session")
def real_warehouse_file(ergast_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Ergast history loaded from the CSV dump (skips when the data is absent)."""
    folder = tmp_path_factory.mktemp("real_warehouse")
    return load_warehouse(folder / "warehouse.duckdb", DumpSource(ergast_dir))


@pytest.fixture
def real_con(real_warehouse_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the real-data warehouse."""
    with duckdb.connect(str(real_warehouse_file), read_only=True) as con:
        yield con
