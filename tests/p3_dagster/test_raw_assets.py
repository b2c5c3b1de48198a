"""Raw assets materialised through Dagster: one run per season range, idempotent, failing safely."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.ergast import TABLES
from p3_common.settings import load_settings
from p3_dagster.defs.ingestion.assets import build_raw_assets
from p3_dagster.defs.ingestion.partitions import build_season_partitions
from p3_dagster.defs.resources import build_resources
from tests.fixtures.dumps import write_demo_dump

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]


def range_tags(first: int, last: int) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": str(first),
        "dagster/asset_partition_range_end": str(last),
    }


def materialize(
    seasons: list[int], tags: dict[str, str] | None = None, selection: str | None = None
) -> dg.ExecuteInProcessResult:
    settings = load_settings()
    assets = build_raw_assets(build_season_partitions(seasons))
    return dg.materialize(
        assets,
        resources=build_resources(settings),
        instance=dg.DagsterInstance.ephemeral(),
        tags=tags,
        selection=selection,
        raise_on_error=False,
    )


def table_rows(table: str, where: str = "TRUE") -> list[tuple]:
    spec = TABLES[table]
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        return con.execute(
            f"SELECT {columns}, _source FROM {spec.qualified_name} WHERE {where} ORDER BY ALL"
        ).fetchall()


def test_a_season_range_loads_every_table_in_one_run() -> None:
    result = materialize([2020, 2021, 2022], tags=range_tags(2020, 2022))
    assert result.success
    materialized = result.get_asset_materialization_events()
    keys = {event.asset_key for event in materialized}
    assert len(keys) == len(TABLES)
    partitions = {e.partition for e in materialized if e.asset_key.path[1] == "ergast__results"}
    assert partitions == {"2020", "2021", "2022"}
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        seasons = con.execute(
            "SELECT DISTINCT _season, _source FROM raw.ergast__results ORDER BY 1"
        ).fetchall()
    assert seasons == [(2020, "demo"), (2021, "demo"), (2022, "demo")]


def test_materialisations_report_rows_schema_and_preview() -> None:
    result = materialize([2021, 2022], tags=range_tags(2021, 2022))
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[1] == "ergast__lap_times"
    ]
    metadata = events[0].materialization.metadata
    assert metadata["dagster/row_count"].value == len(table_rows("lap_times"))
    assert metadata["rows_loaded"].value == metadata["dagster/row_count"].value
    assert set(metadata["rows_by_season"].value) == {"2021", "2022"}
    assert metadata["synthetic"].value is True
    preview = metadata["preview"].value.splitlines()
    assert "race_id" in preview[0] and "_source" in preview[0]
    assert len(preview) == 2 + 5  # header, rule, five rows


def test_column_schema_and_table_name_are_definition_metadata() -> None:
    (asset,) = [
        a
        for a in build_raw_assets(build_season_partitions([2020]))
        if a.key.path[1] == "ergast__lap_times"
    ]
    spec = next(iter(asset.specs))
    names = [c.name for c in spec.metadata["dagster/column_schema"].columns]
    assert names[:3] == ["race_id", "driver_id", "lap"] and "_run_id" in names
    assert spec.metadata["dagster/table_name"] == "raw.ergast__lap_times"


def test_reloading_one_season_changes_nothing_and_touches_only_that_season() -> None:
    assert materialize([2020, 2021], tags=range_tags(2020, 2021)).success
    before = table_rows("results")
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        run_2020 = con.execute(
            "SELECT DISTINCT _run_id FROM raw.ergast__results WHERE _season = 2020"
        ).fetchall()
    again = dg.materialize(
        build_raw_assets(build_season_partitions([2020, 2021])),
        resources=build_resources(load_settings()),
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2021",
        selection="key:raw/ergast__results",
    )
    assert again.success
    assert table_rows("results") == before
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        runs = dict(
            con.execute(
                "SELECT _season, any_value(_run_id) FROM raw.ergast__results GROUP BY 1"
            ).fetchall()
        )
    assert runs[2020] == run_2020[0][0]
    assert runs[2021] == again.run_id


def test_bad_input_fails_the_step_and_keeps_the_last_good_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = write_demo_dump(tmp_path / "dump")
    monkeypatch.setenv("P3_SOURCE", "dump")
    monkeypatch.setenv("P3_ERGAST_DIR", str(dump))
    assert materialize([2023, 2024], tags=range_tags(2023, 2024)).success
    good = table_rows("results")

    # Corrupt one grid value of a 2024 result.
    path = dump / "results.csv"
    lines = path.read_text().split("\n")
    fields = lines[-2].split(",")
    fields[5] = '"P1"'
    lines[-2] = ",".join(fields)
    path.write_text("\n".join(lines))

    failed = materialize(
        [2023, 2024], tags=range_tags(2023, 2024), selection="key:raw/ergast__results"
    )
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = str(failure.step_failure_data.error.to_string())
    assert "[dump] table 'results'" in message
    assert f"row {len(lines) - 1}" in message and "column 'grid'" in message
    assert table_rows("results") == good
