"""The raw checks in Dagster: named blocking checks that fail on bad loads and hold back downstream work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from p3_common.ergast import REFERENCE_TABLES, SEASON_COLUMN, TABLES
from p3_common.settings import load_settings
from p3_dagster.definitions import build_definitions
from p3_dagster.defs.ingestion.assets import build_raw_assets, raw_asset_key
from p3_dagster.defs.ingestion.checks import build_raw_checks, check_names
from p3_dagster.defs.ingestion.partitions import build_season_partitions
from p3_dagster.defs.resources import build_resources
from p3_ingest.quality import sql_checks
from tests.fixtures.dumps import write_demo_dump

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

SEASONS = [2023, 2024]
RESULTS = raw_asset_key("results")


@dg.asset(deps=[RESULTS], group_name="test")
def results_consumer() -> dg.MaterializeResult:
    """Stands in for dbt: work that must not run on raw results that failed a blocking check."""
    return dg.MaterializeResult()


def range_tags() -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": str(SEASONS[0]),
        "dagster/asset_partition_range_end": str(SEASONS[-1]),
    }


def materialize(
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    assets = build_raw_assets(build_season_partitions(SEASONS))
    return dg.materialize(
        [*assets, *build_raw_checks(assets), results_consumer],
        resources=build_resources(load_settings()),
        instance=instance,
        tags=range_tags() if tags is None else tags,
        selection=selection,
        raise_on_error=False,
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}


@pytest.fixture
def dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo championship written as an Ergast CSV dump, configured as the source."""
    folder = write_demo_dump(tmp_path / "dump")
    monkeypatch.setenv("P3_SOURCE", "dump")
    monkeypatch.setenv("P3_ERGAST_DIR", str(folder))
    return folder


def rewrite_results(dump: Path, edit: Callable[[list[str]], list[str]]) -> None:
    path = dump / "results.csv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *edit(rows)]) + "\n")


def test_raw_checks_name_each_property_and_all_block_downstream_work() -> None:
    assets = build_raw_assets(build_season_partitions(SEASONS))
    checks = build_raw_checks(assets)
    specs = [spec for c in checks for spec in c.check_specs]
    assert len(checks) == len(TABLES)
    assert sorted(spec.name for spec in specs) == sorted(check_names())
    assert all(spec.blocking for spec in specs)
    by_key = {spec.key: spec for spec in specs}
    values = by_key[dg.AssetCheckKey(RESULTS, "results_values_are_in_range")]
    assert "grid between 0 and 40" in values.description
    for table in REFERENCE_TABLES:  # reference tables reference nothing
        missing = dg.AssetCheckKey(raw_asset_key(table), f"{table}_ids_exist_in_parent_tables")
        assert missing not in by_key


def test_every_check_passes_on_clean_demo_data_and_reports_what_it_validated() -> None:
    result = materialize(dg.DagsterInstance.ephemeral())

    assert result.success
    found = evaluations(result)
    assert set(found) == set(check_names())
    assert all(e.passed for e in found.values())
    values = found["results_values_are_in_range"].metadata
    assert values["seasons"].value == "2023-2024 (2)"
    assert values["rows_validated"].value > 0 and values["failed_expectations"].value == 0
    assert "grid between 0 and 40" in values["expectations_evaluated"].value
    assert "results_consumer" in started_steps(result)


def step_failure(result: dg.ExecuteInProcessResult, step: str) -> dg.DagsterEvent:
    (failure,) = [
        e
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.step_key == step
    ]
    return failure


def results_rows() -> int:
    settings = load_settings()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw.ergast__results").fetchall()[0][0]


def test_an_unknown_status_id_is_rejected_before_the_load_commits_and_skips_downstream_work(
    dump: Path,
) -> None:
    rewrite_results(dump, lambda rows: [*rows[:-1], rows[-1].rsplit(",", 1)[0] + ",9999"])

    result = materialize(dg.DagsterInstance.ephemeral())

    assert not result.success
    failure = step_failure(result, "raw__ergast__results").step_failure_data
    assert failure.error.message.startswith("dagster._core.definitions.events.Failure: rejected")
    assert "results_ids_exist_in_parent_tables: every status_id exists in raw.ergast__status" in (
        failure.user_failure_data.description
    )
    assert "| 9999 |" in failure.user_failure_data.metadata["offending_rows"].value
    assert "results_ids_exist_in_parent_tables" not in evaluations(result)  # checks never ran
    # The consumer of raw results never started; raw tables that do not depend on it still loaded.
    assert "results_consumer" not in started_steps(result)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert raw_asset_key("qualifying") in materialized and RESULTS not in materialized
    assert raw_asset_key("lap_times") not in materialized  # laps follow results
    assert results_rows() == 0  # the rejected first load committed nothing


def test_a_failing_check_reports_its_rule_count_and_offending_rows(dump: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(instance).success
    with duckdb.connect(str(load_settings().warehouse_path)) as con:  # rows gone bad after loading
        con.execute(
            "UPDATE raw.ergast__results SET status_id = 9999 "
            "WHERE result_id = (SELECT max(result_id) FROM raw.ergast__results)"
        )

    checked = materialize(instance, selection=dg.AssetSelection.checks_for_assets(RESULTS))

    assert not checked.success
    found = evaluations(checked)
    failed = found["results_ids_exist_in_parent_tables"]
    assert not failed.passed and failed.blocking
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["failed"].value == "every status_id exists in raw.ergast__status"
    assert failed.metadata["unexpected_rows"].value == 1
    assert "| 9999 |" in failed.metadata["offending_rows"].value
    assert [name for name, e in found.items() if not e.passed] == [failed.check_name]


def test_a_reload_missing_most_of_a_season_is_rejected_until_accepted_as_deliberate(
    dump: Path,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(instance).success
    loaded = results_rows()
    rewrite_results(
        dump,
        lambda rows: [r for i, r in enumerate(rows) if not r.startswith("2024") or i % 10 == 0],
    )
    results_only = dg.AssetSelection.assets(RESULTS)

    for _ in range(2):  # a rejected load never becomes the baseline: the second is rejected too
        shrunk = materialize(instance, selection=results_only)
        failure = step_failure(shrunk, "raw__ergast__results").step_failure_data
        assert "results_row_count_did_not_drop_sharply" in failure.user_failure_data.description
        assert "| 2024 |" in failure.user_failure_data.metadata["offending_rows"].value
        assert results_rows() == loaded

    accepted = dg.materialize(
        [*build_raw_assets(build_season_partitions(SEASONS))],
        resources=build_resources(load_settings()),
        instance=instance,
        tags=range_tags(),
        selection=results_only,
        run_config={"ops": {"raw__ergast__results": {"config": {"accept_row_drop": True}}}},
    )
    assert accepted.success and results_rows() < loaded
    # The row-count check, run afterwards, takes the accepted shrink as deliberate.
    guard = materialize(instance, selection=dg.AssetSelection.checks_for_assets(RESULTS))
    assert evaluations(guard)["results_row_count_did_not_drop_sharply"].passed


def test_checks_launched_alone_validate_the_seasons_of_the_latest_load() -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(instance).success

    alone = materialize(instance, selection=dg.AssetSelection.checks_for_assets(RESULTS), tags={})

    assert alone.success
    found = evaluations(alone)
    assert found["results_keys_are_unique_and_present"].metadata["seasons"].value == (
        "2023-2024 (2)"
    )
    assert not alone.get_asset_materialization_events()


def test_the_code_location_carries_every_raw_check() -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    raw_checks = {key.name for key in graph.asset_check_keys if key.asset_key.path[0] == "raw"}
    assert raw_checks == set(check_names())


@pytest.mark.parametrize("seasons", [None, "first", "none-loaded"])
def test_rows_are_read_in_chunks_into_the_frame_a_whole_read_gives(
    demo_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, seasons: str | None
) -> None:
    # One vector (2,048 rows) at a time, so the demo's lap times take several chunks; the frame
    # (rows, order, dtypes, index) is the one a single conversion of the whole result gives.
    monkeypatch.setattr(sql_checks, "READ_VECTORS", 1)
    table = TABLES["lap_times"].qualified_name
    loaded = [
        s for (s,) in demo_con.execute(f"SELECT DISTINCT {SEASON_COLUMN} FROM {table}").fetchall()
    ]
    scope = {None: None, "first": [min(loaded)], "none-loaded": [1800]}[seasons]
    where, params = sql_checks.season_filter(scope)
    whole = demo_con.sql(f"SELECT * FROM {table} WHERE {where}", params=params or None).df()
    if seasons is None:
        assert len(whole) > 2 * 2048  # several chunks
    chunked = sql_checks.read_rows(demo_con, "lap_times", scope)
    pd.testing.assert_frame_equal(chunked, whole)
