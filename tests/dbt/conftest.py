"""A whole graph built once per session: raw (demo or real) -> dbt marts -> published snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.settings import Settings
from p3_dagster.definitions import build_definitions
from p3_dagster.defs.jobs import EVERYTHING


@dataclass(frozen=True)
class BuiltGraph:
    """A materialised graph: its settings and the run that built it."""

    settings: Settings
    result: dg.ExecuteInProcessResult

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list[object] | None = None) -> object:
        return self.query(sql, params)[0][0]


def build_graph(settings: Settings) -> BuiltGraph:
    """Materialise every asset over every season in one in-process run."""
    return BuiltGraph(settings, build_graph_in(settings, dg.DagsterInstance.ephemeral()))


def build_graph_in(
    settings: Settings,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the selected assets (default: every asset ``p3 materialize`` runs) over every
    configured season; assets partitioned otherwise (reports by race) are left out, as there."""
    definitions = build_definitions(settings)
    job = dg.define_asset_job("everything", selection=(selection or EVERYTHING) & EVERYTHING)
    resolved = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(
        "everything"
    )
    # The job's own partitioning (the seasons), not whichever partitioned asset comes first:
    # the race-partitioned report's dynamic partitions need an instance to list.
    keys = resolved.partitions_def.get_partition_keys() if resolved.partitions_def else []
    tags = (
        {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
        if keys
        else {}
    )
    return resolved.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def explicit_settings(home: Path, **overrides: object) -> Settings:
    """Settings that ignore the caller's P3_* and MLflow variables (module fixtures outlive
    monkeypatch)."""
    values: dict[str, object] = {
        "env": "test",
        "home": home,
        "warehouse_path": None,
        "serving_duckdb_path": None,
        "source": "demo",
        "ergast_dir": None,
        "seasons": None,
        # The MLflow store under `home`, whatever MLFLOW_TRACKING_URI an earlier test exported.
        "P3_MLFLOW_TRACKING_URI": None,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def demo_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltGraph]:
    """The whole graph on the synthetic demo championship (2020-2024), built once per session:
    tests that change it work on a copy of its warehouse."""
    yield build_graph(explicit_settings(tmp_path_factory.mktemp("demo_graph")))


# real_graph (the whole real history, once per session) is in tests/fixtures/snapshots.py: the
# session's published snapshot is its serving file.
