"""dbt wiring as plain functions: build arguments, asset keys, layers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from p3_common.settings import Settings
from p3_dagster.lib.dbt import (
    DbtConfig,
    dbt_build_args,
    dbt_environment,
    failure_summary,
    prune_run_folders,
    strip_ansi,
)
from p3_dagster.lib.dbt.translator import (
    check_description,
    layer,
    model_asset_key,
    owners,
    source_asset_key,
)


@pytest.mark.parametrize(
    ("config", "args"),
    [
        (DbtConfig(), ["build"]),
        (DbtConfig(fail_fast=True), ["build", "--fail-fast"]),
    ],
)
def test_build_args_follow_the_run_config(config: DbtConfig, args: list[str]) -> None:
    assert dbt_build_args(config) == args


def test_models_are_keyed_by_the_schema_they_land_in() -> None:
    props = {"name": "fct_race_results", "schema": "marts", "fqn": ["p3", "marts", "core", "x"]}
    assert model_asset_key(props) == dg.AssetKey(["marts", "fct_race_results"])
    assert model_asset_key(props | {"alias": "results"}) == dg.AssetKey(["marts", "results"])


def test_sources_map_onto_the_raw_ingestion_assets() -> None:
    props = {"name": "ergast__results", "schema": "raw", "identifier": "ergast__results"}
    assert source_asset_key(props) == dg.AssetKey(["raw", "ergast__results"])


@pytest.mark.parametrize(
    ("fqn", "expected"),
    [
        (["p3", "staging", "ergast", "stg_ergast__results"], "staging"),
        (["p3", "intermediate", "core", "int_results_joined_to_races"], "intermediate"),
        (["p3", "marts", "analytics", "mart_driver_season"], "marts"),
        (["p3", "elsewhere", "model"], None),
    ],
)
def test_layer_comes_from_the_models_folder(fqn: list[str], expected: str | None) -> None:
    assert layer({"fqn": fqn, "schema": "main"}) == expected


def test_seeds_take_the_layer_of_their_schema() -> None:
    assert layer({"fqn": ["p3", "modern_scoring"], "schema": "staging"}) == "staging"


def test_old_dbt_run_folders_are_pruned_newest_kept(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    runs = [f"2026112{d}T120000-{d:08x}" for d in range(6)]
    for name in runs:
        (runs_dir / name).mkdir()
    (runs_dir / "notes").mkdir()  # not a run folder: never touched
    deleted = prune_run_folders(runs_dir, keep=2)
    assert [p.name for p in deleted] == runs[:4]
    assert sorted(p.name for p in runs_dir.iterdir()) == [*runs[4:], "notes"]
    assert prune_run_folders(runs_dir / "missing", keep=2) == []


def test_dbt_runs_without_colour_codes(tmp_path: Path) -> None:
    env = dbt_environment(Settings(home=tmp_path))
    assert env["DBT_USE_COLORS"] == "false"


def test_a_dbt_failure_summary_names_each_failed_node_and_its_message() -> None:
    manifest = {
        "nodes": {
            "test.p3.unique_dim_drivers_driver_id.1": {
                "resource_type": "test",
                "name": "unique_dim_drivers_driver_id",
                "attached_node": "model.p3.dim_drivers",
            },
            "model.p3.fct_laps": {"resource_type": "model", "name": "fct_laps"},
        }
    }
    run_results = {
        "results": [
            {"unique_id": "model.p3.dim_drivers", "status": "success", "message": "OK"},
            {
                "unique_id": "test.p3.unique_dim_drivers_driver_id.1",
                "status": "fail",
                "failures": 2,
                "message": "\x1b[31mGot 2 results, configured to fail if != 0\x1b[0m",
            },
            {
                "unique_id": "model.p3.fct_laps",
                "status": "error",
                "message": "Runtime Error in model fct_laps\n  Binder Error: no column lap",
            },
            {"unique_id": "model.p3.mart_lap_pace", "status": "skipped", "message": None},
        ]
    }
    summary = failure_summary(run_results, manifest)
    assert summary == (
        "dbt build failed: 2 of 4 nodes failed, 1 skipped because of them.\n"
        "- test unique_dim_drivers_driver_id on dim_drivers (fail, 2 failing rows): "
        "Got 2 results, configured to fail if != 0\n"
        "- model fct_laps (error): Runtime Error in model fct_laps Binder Error: no column lap"
    )
    assert failure_summary({"results": run_results["results"][:1]}, manifest) is None
    assert strip_ansi("\x1b[1;32mPASS\x1b[0m") == "PASS"


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"name": "t", "description": "Rounds  run\n 1..n."}, "Rounds run 1..n."),
        (
            {
                "name": "accepted_range_x",
                "test_metadata": {
                    "name": "accepted_range",
                    "kwargs": {"column_name": "grid", "min_value": 0, "model": "{{ ref('x') }}"},
                },
            },
            "dbt `accepted_range` test on column `grid` (min_value=0)",
        ),
        (
            {"name": "s", "raw_code": "-- Wins never\n-- decrease.\nwith x as (select 1)"},
            "Wins never decrease.",
        ),
        ({"name": "bare", "raw_code": "select 1"}, "dbt test `bare`"),
    ],
)
def test_every_dbt_test_gets_a_description(props: dict, expected: str) -> None:
    assert check_description(props) == expected


def test_owners_come_from_meta_with_a_default() -> None:
    assert owners({"config": {"meta": {"owner": "team:analytics"}}}) == ["team:analytics"]
    assert owners({"meta": {"owner": ["a@p3.dev", "team:ml"]}}) == ["a@p3.dev", "team:ml"]
    assert owners({}) == ["team:data-platform"]
