"""The code location loads for every environment and source, without side effects, with the expected graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from p3_common.ergast import REFERENCE_TABLES, SEASON_TABLES, TABLES
from p3_common.settings import load_settings
from p3_dagster.definitions import build_definitions
from tests.fixtures.dumps import write_demo_dump

RAW_KEYS = {dg.AssetKey(["raw", f"ergast__{name}"]) for name in TABLES}


@pytest.fixture
def source_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    source = request.param
    monkeypatch.setenv("P3_SOURCE", source)
    if source == "dump":
        monkeypatch.setenv("P3_ERGAST_DIR", str(write_demo_dump(tmp_path / "dump")))
    return source


@pytest.mark.parametrize("env", ["local", "test", "prod"])
@pytest.mark.parametrize("source_env", ["demo", "dump", "jolpica"], indirect=True)
def test_definitions_load_and_resolve_for_every_env_and_source(
    env: str, source_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P3_ENV", env)
    settings = load_settings()
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == RAW_KEYS
    for job in defs.jobs or []:
        defs.resolve_job_def(job.name)
    for schedule in defs.schedules or []:
        defs.resolve_schedule_def(schedule.name)
    for sensor in defs.sensors or []:
        defs.resolve_sensor_def(sensor.name)
    assert defs.resolve_job_def("ingest_ergast_job")
    # Loading definitions must not create or open the warehouse.
    assert not settings.warehouse_path.exists()


@pytest.mark.parametrize("source_env", ["demo"], indirect=True)
def test_raw_assets_are_grouped_described_pooled_and_partitioned(source_env: str) -> None:
    defs = build_definitions(load_settings())
    graph = defs.resolve_asset_graph()
    for name, spec in TABLES.items():
        node = graph.get(dg.AssetKey(["raw", spec.raw_table]))
        assert node.group_name == "ingestion"
        assert spec.description in (node.description or "")
        assert node.pools == {"duckdb_write"}
        assert set(node.kinds) >= {"duckdb"}
        if name in SEASON_TABLES:
            assert node.partitions_def is not None
            assert node.partitions_def.get_partition_keys() == [str(y) for y in range(2020, 2025)]
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
        else:
            assert name in REFERENCE_TABLES and node.partitions_def is None


@pytest.mark.parametrize("source_env", ["demo"], indirect=True)
def test_p3_seasons_narrows_the_partitions(
    source_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P3_SEASONS", "2021-2022")
    defs = build_definitions(load_settings())
    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "ergast__results"]))
    assert node.partitions_def.get_partition_keys() == ["2021", "2022"]


def test_results_depend_on_the_tables_their_ids_reference() -> None:
    defs = build_definitions(load_settings())
    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "ergast__results"]))
    assert {key.path[1] for key in node.parent_keys} == {
        "ergast__races",
        "ergast__drivers",
        "ergast__constructors",
        "ergast__status",
    }


def test_loading_the_code_location_does_no_io(tmp_path: Path) -> None:
    """Load in a fresh interpreter against an unroutable API: no network, no files, no warehouse."""
    home = tmp_path / "untouched"
    home.mkdir()
    code = (
        "import p3_dagster.definitions as d; "
        "from p3_dagster.definitions import build_definitions; "
        "from p3_common.settings import get_settings; "
        "print(len(list(build_definitions(get_settings()).resolve_asset_graph().get_all_asset_keys())))"
    )
    env = {"P3_HOME": str(home), "P3_SOURCE": "jolpica", "P3_JOLPICA_URL": "http://192.0.2.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_base_env() | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(TABLES))
    assert list(home.iterdir()) == []


@pytest.mark.slow
def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=Path(__file__).resolve().parents[2],
        env=_base_env() | {"P3_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("P3_")}
