"""The code location loads for every environment and source, without side effects, with the expected graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from p3_common.ergast import REFERENCE_TABLES, SEASON_TABLES, TABLES
from p3_common.settings import load_settings
from p3_dagster.definitions import build_definitions
from tests.fixtures.dumps import write_demo_dump

# The definitions load the manifest of the P3_ENV they run under.
pytestmark = pytest.mark.usefixtures("dbt_manifests_of_every_target")

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
    keys = set(graph.get_all_asset_keys())
    assert RAW_KEYS <= keys
    assert dg.AssetKey(["serving", "warehouse_snapshot"]) in keys
    assert {key.path[0] for key in keys} <= {
        "raw",
        "staging",
        "intermediate",
        "marts",
        "serving",
        "ml",
        "analyses",
        "reports",
        "monitoring",
    }
    for job in defs.jobs or []:
        defs.resolve_job_def(job.name)
    for schedule in defs.schedules or []:
        defs.resolve_schedule_def(schedule.name)
    for sensor in defs.sensors or []:
        defs.resolve_sensor_def(sensor.name)
    assert defs.resolve_job_def("ingest_ergast_job")
    # Loading definitions must not create or open the warehouse.
    assert not settings.warehouse_path.exists()


def test_one_connected_graph_from_raw_tables_to_the_snapshot() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    snapshot = dg.AssetKey(["serving", "warehouse_snapshot"])
    upstream = dg.AssetSelection.assets(snapshot).upstream().resolve(graph)
    assert {
        dg.AssetKey(["raw", "ergast__results"]),
        dg.AssetKey(["marts", "fct_race_results"]),
    } <= upstream
    for raw in RAW_KEYS:  # every raw table feeds its staging model
        children = graph.get(raw).child_keys
        assert dg.AssetKey(["staging", f"stg_{raw.path[1]}"]) in children, raw
    stg = graph.get(dg.AssetKey(["staging", "stg_ergast__results"]))
    assert dg.AssetKey(["raw", "ergast__results"]) in stg.parent_keys


def test_the_cache_is_warmed_by_the_sequence_model_trained_after_each_publish() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    snapshot = dg.AssetKey(["serving", "warehouse_snapshot"])
    model = graph.get(dg.AssetKey(["serving", "query_sequence_model"]))
    cache = graph.get(dg.AssetKey(["serving", "query_cache"]))
    assert model.parent_keys == {snapshot} and "mlflow" in model.kinds
    assert cache.parent_keys == {snapshot, model.key}
    assert model.automation_condition is not None and cache.automation_condition is not None


def test_models_are_grouped_by_layer_with_checks_and_policies() -> None:
    defs = build_definitions(load_settings())
    graph = defs.resolve_asset_graph()
    fct = graph.get(dg.AssetKey(["marts", "fct_race_results"]))
    assert fct.group_name == "marts" and {"dbt", "duckdb"} <= set(fct.kinds)
    assert fct.description and fct.pools == {"duckdb_write"}
    assert fct.automation_condition is not None and fct.freshness_policy is not None
    stg = graph.get(dg.AssetKey(["staging", "stg_ergast__results"]))
    assert stg.group_name == "staging" and stg.freshness_policy is None
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == fct.key}
    assert any(name.startswith("unique_fct_race_results") for name in checks), checks
    raw = graph.get(dg.AssetKey(["raw", "ergast__results"]))
    assert raw.automation_condition is None  # ingestion starts from schedules and sensors only
    snapshot = graph.get(dg.AssetKey(["serving", "warehouse_snapshot"]))
    assert "all_deps_blocking_checks_passed" in str(snapshot.automation_condition)


def test_only_the_automation_and_alert_sensors_run_by_default() -> None:
    """A new instance evaluates automation conditions and alerts on failures, but calls no source
    and trains no model until someone turns a schedule or the new-race sensor on."""
    defs = build_definitions(load_settings())
    running = {
        s.name for s in defs.sensors or [] if s.default_status == dg.DefaultSensorStatus.RUNNING
    }
    assert running == {
        "automation_condition_sensor",
        "run_failure_alert_sensor",
        "run_duration_anomaly_sensor",
        "orphaned_run_sensor",
        # Follows publishes only (reads the published snapshot's build id): no source, no model.
        "race_published_sensor",
    }
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in defs.schedules or [])
    assert all(s.description for s in [*(defs.sensors or []), *(defs.schedules or [])])


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


def test_no_check_or_dependency_points_outside_the_graph() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    defined = set(graph.get_all_asset_keys())
    referenced = {key.asset_key for key in graph.asset_check_keys}
    for key in defined:
        referenced |= graph.get(key).parent_keys | graph.get(key).child_keys
    for check in graph.asset_check_keys:
        referenced |= {dep.asset_key for dep in graph.get_check_spec(check).additional_deps}
    assert referenced - defined == set()
    assert not [key for key in defined if key.path[0] == "ergast"]


def test_dbt_sources_resolve_to_the_raw_ingestion_assets() -> None:
    from p3_dagster.lib.dbt import P3DbtTranslator, dbt_project

    manifest = json.loads(Path(dbt_project("test").manifest_path).read_text())
    translator = P3DbtTranslator()
    sources = {translator.get_asset_key(props) for props in manifest["sources"].values()}
    assert sources == RAW_KEYS


def test_every_asset_has_owners_and_a_code_reference_and_dbt_models_a_column_schema() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners and all(o.startswith("team:") for o in node.owners), key
        references = node.metadata.get("dagster/code_references")
        assert references and references.code_references, key
        if "dbt" in node.kinds:
            files = {Path(r.file_path).suffix for r in references.code_references}
            assert files & {".sql", ".csv"}, key  # the model's SQL, or the seed's CSV
            schema = node.metadata.get("dagster/column_schema")
            assert isinstance(schema, dg.TableSchema) and schema.columns, key
    fct = graph.get(dg.AssetKey(["marts", "fct_race_results"]))
    assert fct.owners == ["team:analytics"]
    assert graph.get(dg.AssetKey(["ml", "race_outcome_model"])).owners == ["team:ml"]


def test_every_job_schedule_sensor_asset_and_check_is_described() -> None:
    defs = build_definitions(load_settings())
    graph = defs.resolve_asset_graph()
    missing = [
        f"job {j.name}" for j in defs.jobs or [] if not defs.resolve_job_def(j.name).description
    ]
    missing += [
        f"schedule {s.name}"
        for s in defs.schedules or []
        if not (defs.resolve_schedule_def(s.name).description or "").strip()
    ]
    missing += [
        f"sensor {s.name}"
        for s in defs.sensors or []
        if not (defs.resolve_sensor_def(s.name).description or "").strip()
    ]
    missing += [f"asset {k}" for k in graph.get_all_asset_keys() if not graph.get(k).description]
    missing += [f"asset {k} kind" for k in graph.get_all_asset_keys() if not graph.get(k).kinds]
    missing += [
        f"check {k}"
        for k in graph.asset_check_keys
        if not (graph.get_check_spec(k).description or "").strip()
    ]
    assert missing == []
    singular = graph.get_check_spec(
        dg.AssetCheckKey(dg.AssetKey(["marts", "dim_races"]), "dim_races_rounds_are_contiguous")
    )
    assert "rounds run exactly" in (singular.description or "")


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
    assert int(done.stdout.strip()) > len(TABLES)
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
