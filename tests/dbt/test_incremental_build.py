"""The new-race path on demo data: after a change to some raw tables, the dbt step rebuilds and tests
only what reads them, publishes the same build as a full rebuild would, and still fails on a
violating row; with nothing changed it does not run dbt at all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.settings import Settings
from p3_common.snapshot import read_snapshot
from p3_dagster.definitions import build_definitions
from p3_dagster.defs.serving.assets import SNAPSHOT_KEY
from tests.dbt.conftest import BuiltGraph, explicit_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

DBT_GROUPS = ("staging", "intermediate", "marts")
# Models that read only reference tables: a change to the race tables leaves them as they are.
REFERENCE_ONLY = {"stg_ergast__circuits", "stg_ergast__status", "dim_circuits"}


def warehouse_copy(graph: BuiltGraph, tmp_path: Path) -> Settings:
    """Settings of a fresh home whose warehouse is a copy of ``graph``'s (same file name, so the
    relations keep their database name)."""
    warehouse = tmp_path / "copy" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copy2(graph.settings.warehouse_path, warehouse)
    return explicit_settings(tmp_path / "home", warehouse_path=warehouse)


def build(settings: Settings, *, only_changed: bool = True) -> dg.ExecuteInProcessResult:
    """One run of the dbt models and the snapshot, as the automation condition after a load does."""
    selection = dg.AssetSelection.groups(*DBT_GROUPS) | dg.AssetSelection.assets(SNAPSHOT_KEY)
    job = dg.define_asset_job(
        "dbt_then_publish",
        selection=selection,
        config={"ops": {"dbt_models": {"config": {"only_changed": only_changed}}}},
    )
    definitions = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[job]))
    return definitions.resolve_job_def("dbt_then_publish").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def dbt_runs(settings: Settings) -> list[dict]:
    """The run results of each dbt invocation in ``settings.home``, oldest first."""
    runs = sorted((settings.home / "dbt" / "runs").glob("*/run_results.json"))
    return [json.loads(path.read_text()) for path in runs]


def rebuilt(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Each dbt model materialised in the run: rebuilt by dbt (True) or reported unchanged."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[0] in DBT_GROUPS:
            value = materialization.metadata.get("p3/rebuilt")
            found[materialization.asset_key.path[-1]] = value is None or bool(value.value)
    return found


def drop_latest_race(warehouse: Path) -> int:
    """Delete the latest race from every raw table with a race id (a season reload that lost a
    race, the reverse of a new race); returns its id."""
    with duckdb.connect(str(warehouse)) as con:
        (race_id,) = con.execute(
            "select race_id from raw.ergast__races order by year desc, round desc limit 1"
        ).fetchone()
        tables = con.execute(
            "select table_name from duckdb_columns() where schema_name = 'raw' "
            "and column_name = 'race_id'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"delete from raw.{table} where race_id = ?", [race_id])
    return int(race_id)


def test_with_no_raw_table_changed_dbt_does_not_run_and_the_build_is_republished(
    demo_graph: BuiltGraph, tmp_path: Path
) -> None:
    settings = warehouse_copy(demo_graph, tmp_path)
    result = build(settings)
    assert result.success
    assert dbt_runs(settings) == []
    models = rebuilt(result)
    assert len(models) > 40 and not any(models.values()), models
    published = read_snapshot(settings.serving_duckdb_path)
    assert published.build_id == read_snapshot(demo_graph.settings.serving_duckdb_path).build_id


def test_a_changed_season_rebuilds_only_its_descendants_and_publishes_what_a_full_build_does(
    demo_graph: BuiltGraph, tmp_path: Path
) -> None:
    partial = warehouse_copy(demo_graph, tmp_path / "partial")
    full = warehouse_copy(demo_graph, tmp_path / "full")
    race_id = drop_latest_race(partial.warehouse_path)
    assert drop_latest_race(full.warehouse_path) == race_id

    result = build(partial)
    assert result.success
    (run,) = dbt_runs(partial)
    ran = {r["unique_id"].split(".")[2] for r in run["results"]}
    kinds = {r["unique_id"].split(".")[0] for r in run["results"]}
    assert "unit_test" not in kinds  # the project is unchanged since they last passed
    assert not ran & REFERENCE_ONLY
    assert {"fct_race_results", "mart_driver_season", "dim_races"} <= ran
    assert "relationships_dim_races_circuit_id__circuit_id__ref_dim_circuits_" in ran
    models = rebuilt(result)
    assert not any(models[m] for m in REFERENCE_ONLY) and models["fct_race_results"]

    assert build(full, only_changed=False).success
    (full_run,) = dbt_runs(full)
    assert len(run["results"]) < len(full_run["results"])
    assert "unit_test" in {r["unique_id"].split(".")[0] for r in full_run["results"]}
    # Two builds of the same raw tables (one partial, one full) publish the same build id, and
    # it is not the demo graph's (a race is gone).
    partial_id = read_snapshot(partial.serving_duckdb_path).build_id
    assert partial_id == read_snapshot(full.serving_duckdb_path).build_id
    assert partial_id != read_snapshot(demo_graph.settings.serving_duckdb_path).build_id


def test_a_violating_row_in_a_changed_table_fails_the_tests_that_read_it(
    demo_graph: BuiltGraph, tmp_path: Path
) -> None:
    """The tests of a partial build still guard the new rows, including a relationship test whose
    other side (the circuits, a reference table that did not change) is not rebuilt."""
    settings = warehouse_copy(demo_graph, tmp_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "update raw.ergast__races set circuit_id = 99999 where race_id = "
            "(select race_id from raw.ergast__races order by year desc, round desc limit 1)"
        )
    result = build(settings)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "relationships_stg_ergast__races_circuit_id__circuit_id__ref_stg_ergast__circuits_" in (
        message
    ), message
    (run,) = dbt_runs(settings)
    assert "stg_ergast__circuits" not in {r["unique_id"].split(".")[2] for r in run["results"]}
    # A failed build records no state: the next build redoes the change.
    assert read_snapshot(settings.serving_duckdb_path, missing_ok=True) is None
