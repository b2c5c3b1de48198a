"""A dbt build redoes only what is downstream of the raw tables that changed (pure planning, the
raw tables' fingerprints, and the partial-parse state a run folder starts with)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from p3_dagster.lib.dbt import BuildState, plan_build, source_fingerprints
from p3_dagster.lib.dbt.changes import read_state, write_state
from p3_dagster.lib.dbt.resource import seed_partial_parse

# A small manifest: two raw tables, a view on each, a mart joining both, one on results only.
MANIFEST = {
    "sources": {
        "source.p3.ergast.results": {"schema": "raw", "name": "ergast__results"},
        "source.p3.ergast.drivers": {"schema": "raw", "name": "ergast__drivers"},
    },
    "nodes": {
        "model.p3.stg_results": {"resource_type": "model", "name": "stg_results"},
        "model.p3.stg_drivers": {"resource_type": "model", "name": "stg_drivers"},
        "model.p3.dim_drivers": {"resource_type": "model", "name": "dim_drivers"},
        "model.p3.fct_results": {"resource_type": "model", "name": "fct_results"},
        "seed.p3.scoring": {"resource_type": "seed", "name": "scoring"},
        "test.p3.unique_stg_drivers": {"resource_type": "test", "name": "unique_stg_drivers"},
        "test.p3.not_null_fct_results": {"resource_type": "test", "name": "not_null_fct_results"},
        "test.p3.rel_fct_to_dim": {"resource_type": "test", "name": "rel_fct_to_dim"},
        "test.p3.source_unique_drivers": {
            "resource_type": "test",
            "name": "source_unique_drivers",
        },
        "test.p3.source_unique_results": {
            "resource_type": "test",
            "name": "source_unique_results",
        },
    },
    "child_map": {
        "source.p3.ergast.results": ["model.p3.stg_results", "test.p3.source_unique_results"],
        "source.p3.ergast.drivers": ["model.p3.stg_drivers", "test.p3.source_unique_drivers"],
        "model.p3.stg_results": ["model.p3.fct_results"],
        "model.p3.stg_drivers": ["model.p3.dim_drivers", "test.p3.unique_stg_drivers"],
        "model.p3.fct_results": ["test.p3.not_null_fct_results", "test.p3.rel_fct_to_dim"],
        "model.p3.dim_drivers": ["test.p3.rel_fct_to_dim"],
    },
    "parent_map": {
        "test.p3.unique_stg_drivers": ["model.p3.stg_drivers"],
        "test.p3.not_null_fct_results": ["model.p3.fct_results"],
        "test.p3.rel_fct_to_dim": ["model.p3.fct_results", "model.p3.dim_drivers"],
        "test.p3.source_unique_drivers": ["source.p3.ergast.drivers"],
        "test.p3.source_unique_results": ["source.p3.ergast.results"],
    },
}
BEFORE = BuildState("key-1", {"raw.ergast__results": "10:1", "raw.ergast__drivers": "5:2"})


def test_a_build_without_a_recorded_state_or_after_a_project_change_runs_everything() -> None:
    for previous, current in ((None, BEFORE), (BEFORE, BuildState("key-2", BEFORE.sources))):
        plan = plan_build(MANIFEST, previous, current)
        assert plan.full and plan.exclude == () and not plan.unchanged_nodes, plan
    assert plan_build(MANIFEST, BEFORE, BEFORE, only_changed=False).full


def test_a_changed_raw_table_rebuilds_its_descendants_and_every_test_reading_them() -> None:
    now = BuildState("key-1", {**BEFORE.sources, "raw.ergast__results": "11:7"})
    plan = plan_build(MANIFEST, BEFORE, now)
    assert not plan.full and plan.changed_sources == {"raw.ergast__results"}
    # Upstream first: Dagster takes a multi-asset's outputs only in dependency order.
    assert plan.unchanged_nodes == (
        "model.p3.stg_drivers",
        "model.p3.dim_drivers",
        "seed.p3.scoring",
    )
    # The relationship test reads a rebuilt model and an unchanged one: it runs.
    assert set(plan.exclude) == {
        "resource_type:unit_test",
        "stg_drivers",
        "dim_drivers",
        "scoring",
        "unique_stg_drivers",
        "source_unique_drivers",
    }
    assert "raw.ergast__results" in plan.reason


def test_a_raw_table_that_disappeared_counts_as_changed() -> None:
    now = BuildState("key-1", {"raw.ergast__drivers": "5:2"})
    plan = plan_build(MANIFEST, BEFORE, now)
    assert plan.changed_sources == {"raw.ergast__results"}


def test_nothing_changed_means_nothing_to_do() -> None:
    plan = plan_build(MANIFEST, BEFORE, BuildState("key-1", dict(BEFORE.sources)))
    assert plan.nothing_to_do and len(plan.unchanged_nodes) == 5


def _raw(path: Path, rows: list[tuple[int, str, str, str]]) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            "create or replace table raw.ergast__drivers "
            "(driver_id int, driver_ref varchar, _loaded_at varchar, _run_id varchar)"
        )
        if rows:
            con.executemany("insert into raw.ergast__drivers values (?, ?, ?, ?)", rows)


def test_fingerprints_follow_content_not_load_time_or_row_order(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    rows = [(1, "hamilton", "t1", "run-1"), (2, "alonso", "t1", "run-1")]

    def fingerprint(rows: list[tuple[int, str, str, str]]) -> str:
        _raw(db, rows)
        return source_fingerprints(db, ["raw.ergast__drivers", "raw.missing"])[
            "raw.ergast__drivers"
        ]

    first = fingerprint(rows)
    assert fingerprint([(2, "alonso", "t2", "run-2"), (1, "hamilton", "t2", "run-2")]) == first
    assert fingerprint([(1, "hamilton", "t1", "run-1"), (2, "alonzo", "t1", "run-1")]) != first
    assert fingerprint([*rows, rows[0]]) != first  # a duplicated row changes it
    # Same row count, different pairs of duplicates (rows that cancel out under xor).
    twin_a, twin_b = (3, "vettel", "t1", "run-1"), (4, "button", "t1", "run-1")
    assert fingerprint([*rows, twin_a, twin_a]) != fingerprint([*rows, twin_b, twin_b])
    assert "raw.missing" not in source_fingerprints(db, ["raw.missing"])


def test_the_state_round_trips_through_the_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    assert read_state(db) is None
    _raw(db, [])
    assert read_state(db) is None
    write_state(db, BEFORE)
    assert read_state(db) == BEFORE
    write_state(db, BuildState("key-2", {}))
    assert read_state(db) == BuildState("key-2", {})


def test_a_run_folder_starts_with_the_newest_partial_parse_state(tmp_path: Path) -> None:
    runs, manifest_dir = tmp_path / "runs", tmp_path / "target"
    manifest_dir.mkdir()
    new = runs / "20261201T110000-00000000"
    assert seed_partial_parse(new, runs, manifest_dir) is None  # nothing to start from
    (manifest_dir / "partial_parse.msgpack").write_bytes(b"project")
    assert seed_partial_parse(new, runs, manifest_dir) == manifest_dir / "partial_parse.msgpack"
    for name, content in (
        ("20261201T100000-aaaaaaaa", b"old"),
        ("20261201T105000-bbbbbbbb", b"new"),
    ):
        (runs / name).mkdir(parents=True)
        (runs / name / "partial_parse.msgpack").write_bytes(content)
    (runs / "not-a-run").mkdir()
    (runs / "not-a-run" / "partial_parse.msgpack").write_bytes(b"foreign")
    assert seed_partial_parse(new, runs, manifest_dir) == runs / "20261201T105000-bbbbbbbb" / (
        "partial_parse.msgpack"
    )
    assert (new / "partial_parse.msgpack").read_bytes() == b"new"
