"""dbt wiring as plain functions: build arguments, asset keys, layers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from p3_dagster.lib.dbt import DbtConfig, dbt_build_args
from p3_dagster.lib.dbt_translator import layer, model_asset_key, source_asset_key
from p3_dagster.lib.resources import prune_run_folders


@pytest.mark.parametrize(
    ("config", "args"),
    [
        (DbtConfig(), ["build"]),
        (DbtConfig(full_refresh=True), ["build", "--full-refresh"]),
        (DbtConfig(full_refresh=True, fail_fast=True), ["build", "--full-refresh", "--fail-fast"]),
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
