"""The whole graph on demo data: every asset materialises, every check passes, the marts add up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.snapshot import read_snapshot
from p3_dagster.definitions import build_definitions
from tests.dbt.conftest import BuiltGraph, build_graph_in, explicit_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

GRAINS = {
    "dim_drivers": ["driver_id"],
    "dim_races": ["race_id"],
    "fct_race_results": ["result_id"],
    "fct_lap_times": ["race_id", "driver_id", "lap"],
    "mart_driver_season": ["season", "driver_id"],
    "mart_constructor_season": ["season", "constructor_id"],
    "mart_constructor_head_to_head": ["season", "constructor_a_id", "constructor_b_id"],
    "mart_lap_pace": ["race_id", "driver_id"],
    "mart_pit_stop_performance": ["season", "constructor_id"],
    "mart_circuit_history": ["circuit_id"],
}


def test_every_asset_materialises_and_every_check_passes(demo_graph: BuiltGraph) -> None:
    result = demo_graph.result
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    keys = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["marts", "mart_driver_season"]) in keys
    assert dg.AssetKey(["serving", "warehouse_snapshot"]) in keys


def test_the_snapshot_holds_every_mart(demo_graph: BuiltGraph) -> None:
    snapshot = read_snapshot(demo_graph.settings.serving_duckdb_path)
    assert snapshot is not None and len(snapshot.build_id) == 16
    marts = {
        name
        for (name,) in demo_graph.query(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'"
        )
    }
    assert {name.split(".", 1)[1] for name in snapshot.tables} == marts


@pytest.mark.parametrize("model", sorted(GRAINS))
def test_mart_grains_are_unique(demo_graph: BuiltGraph, model: str) -> None:
    columns = ", ".join(GRAINS[model])
    total, distinct = demo_graph.query(
        f"SELECT count(*), count(DISTINCT ({columns})) FROM marts.{model}"
    )[0]
    assert total > 0 and total == distinct


def test_driver_season_points_add_up_to_race_and_sprint_points(demo_graph: BuiltGraph) -> None:
    mismatches = demo_graph.query(
        """
        with scored as (
            select season, sum(points) as points from marts.fct_race_results group by 1
            union all
            select season, sum(points) from marts.fct_sprint_results group by 1
        ),
        expected as (select season, sum(points) as points from scored group by 1),
        mart as (select season, sum(points) as points from marts.mart_driver_season group by 1)
        select e.season, e.points, m.points
        from expected e full join mart m using (season)
        where abs(coalesce(e.points, 0) - coalesce(m.points, 0)) > 1e-6
        """
    )
    assert mismatches == []


def test_constructor_head_to_head_is_symmetric(demo_graph: BuiltGraph) -> None:
    asymmetric = demo_graph.query(
        """
        select a.season, a.constructor_a_id, a.constructor_b_id
        from marts.mart_constructor_head_to_head a
        left join marts.mart_constructor_head_to_head b
            on b.season = a.season
            and b.constructor_a_id = a.constructor_b_id
            and b.constructor_b_id = a.constructor_a_id
        where b.season is null
            or a.a_ahead_of_b != b.b_ahead_of_a
            or a.b_ahead_of_a != b.a_ahead_of_b
            or a.races_both_started != b.races_both_started
        """
    )
    assert asymmetric == []
    assert demo_graph.scalar("select count(*) from marts.mart_constructor_head_to_head") > 0


def test_official_and_computed_champions_agree_on_demo_data(demo_graph: BuiltGraph) -> None:
    # The demo has no dropped scores or exclusions: computed points are the official points.
    differ = demo_graph.query(
        "select season, driver_id from marts.mart_driver_season "
        "where abs(points - official_points) > 1e-6"
    )
    assert differ == []


def test_every_event_lands_on_an_asset_of_the_graph(demo_graph: BuiltGraph) -> None:
    # dbt source tests used to be observed on `ergast/ergast__*`, keys outside the graph.
    defined = set(build_definitions(demo_graph.settings).resolve_asset_graph().get_all_asset_keys())
    events = demo_graph.result.all_events
    touched = {e.asset_key for e in events if e.asset_key is not None}
    touched |= {e.asset_key for e in demo_graph.result.get_asset_check_evaluations()}
    assert touched and touched - defined == set()
    observed = {
        e.asset_key
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION and e.asset_key
    }
    assert dg.AssetKey(["raw", "ergast__drivers"]) in observed  # its source tests' results


def test_dbt_materialisations_carry_column_types_and_row_counts(demo_graph: BuiltGraph) -> None:
    by_key = {
        e.asset_key: e.materialization.metadata
        for e in demo_graph.result.get_asset_materialization_events()
    }
    for key in (["marts", "fct_race_results"], ["staging", "stg_ergast__results"]):
        metadata = by_key[dg.AssetKey(key)]
        name = ".".join(key)
        count = metadata["dagster/row_count"].value
        assert count == demo_graph.scalar(f"select count(*) from {name}") > 0
        schema = metadata["dagster/column_schema"].value
        columns = {c.name: c.type for c in schema.columns}
        assert columns["race_id"] in {"INTEGER", "BIGINT"}, columns
        assert all(columns.values()), columns


def test_a_failed_dbt_test_names_the_failed_nodes_without_colour_codes(
    demo_graph: BuiltGraph, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy2(demo_graph.settings.warehouse_path, warehouse)
    with duckdb.connect(str(warehouse)) as con:  # a driver listed twice
        con.execute("insert into raw.ergast__drivers select * from raw.ergast__drivers limit 1")
    settings = explicit_settings(tmp_path / "home", warehouse_path=warehouse)
    result = build_graph_in(
        settings,
        dg.DagsterInstance.ephemeral(),
        dg.AssetSelection.groups("staging", "intermediate", "marts"),
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "\x1b[" not in message
    assert "--select" not in message and "fct_race_results" not in message.splitlines()[0]
    assert "source_unique_ergast_ergast__drivers_driver_id" in message, message
    assert "failing rows" in message and len(message.splitlines()) < 20, message


# The per-column not_null and accepted_range tests these model-level tests replaced.
REPLACED_NOT_NULL_TESTS = 252
REPLACED_RANGE_TESTS = 78


def consolidated_tests(graph: BuiltGraph) -> list[tuple[str, dict, str, str]]:
    """(generic test name, its arguments, compiled SQL, tested relation) of every model-level
    not_null_columns / columns_within_range test the graph's dbt build ran."""
    (run_results,) = (graph.settings.home / "dbt" / "runs").glob("*/run_results.json")
    manifest = json.loads((run_results.parent / "manifest.json").read_text())
    compiled = {
        r["unique_id"]: r["compiled_code"] for r in json.loads(run_results.read_text())["results"]
    }
    found = []
    for unique_id, node in manifest["nodes"].items():
        generic = (node.get("test_metadata") or {}).get("name")
        if generic in ("not_null_columns", "columns_within_range"):
            model = manifest["nodes"][node["attached_node"]]
            found.append(
                (
                    generic,
                    node["test_metadata"]["kwargs"],
                    compiled[unique_id],
                    model["relation_name"],
                )
            )
    return found


def violations(con: duckdb.DuckDBPyConnection, sql: str, relation: str) -> list[str]:
    """What the compiled test reports for the mutant table standing in for ``relation``."""
    rows = con.execute(sql.replace(relation, "mutant")).fetchall()
    return [row[0] for row in rows]


def test_each_column_of_a_consolidated_test_fails_it_on_a_violating_row(
    demo_graph: BuiltGraph, tmp_path: Path
) -> None:
    """Mutation test of every guarantee the model-level tests took over from per-column tests:
    one violating value in any listed column makes the compiled test return that row, naming
    the column (a dbt test fails when it returns rows)."""
    warehouse = tmp_path / "warehouse.duckdb"  # same file name: relations keep their database
    shutil.copy2(demo_graph.settings.warehouse_path, warehouse)
    tests = consolidated_tests(demo_graph)
    not_null = [
        (sql, rel, c) for g, kw, sql, rel in tests if g == "not_null_columns" for c in kw["columns"]
    ]
    ranges = [
        (sql, rel, column, bounds)
        for g, kw, sql, rel in tests
        if g == "columns_within_range"
        for column, bounds in kw["ranges"].items()
    ]
    assert len(not_null) >= REPLACED_NOT_NULL_TESTS and len(ranges) >= REPLACED_RANGE_TESTS
    with duckdb.connect(str(warehouse)) as con:
        for sql, relation, column in not_null:
            con.execute(f"create or replace temp table mutant as select * from {relation} limit 3")
            assert violations(con, sql, relation) == [], (relation, column)
            con.execute(
                f'update mutant set "{column}" = null where rowid = (select min(rowid) from mutant)'
            )
            assert violations(con, sql, relation) == [column], (relation, column)
        for sql, relation, column, bounds in ranges:
            inclusive = bounds.get("inclusive", True)
            for bound, outside in (("min_value", -1), ("max_value", 1)):
                if bounds.get(bound) is None:
                    continue
                value = bounds[bound] + (outside if inclusive else 0)
                con.execute(
                    f"create or replace temp table mutant as select * from {relation} limit 3"
                )
                con.execute(
                    f'update mutant set "{column}" = {value} where rowid = (select min(rowid) from mutant)'
                )
                assert violations(con, sql, relation) == [column], (relation, column, bound)
