"""The jolpica source behind the real raw assets: a season loads through Dagster, then only new races are fetched."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from p3_common.ergast import TABLES
from p3_common.settings import load_settings
from p3_dagster.definitions import build_definitions
from tests.p3_dagster.ergast.jolpica_server import ContractCsv, JolpicaTestServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]


@pytest.fixture
def jolpica_env(jolpica_server: JolpicaTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P3_SOURCE", "jolpica")
    monkeypatch.setenv("P3_JOLPICA_URL", jolpica_server.base_url)
    monkeypatch.setenv("P3_SEASONS", "2020")
    # The local server needs no politeness; the limiter itself is tested in test_jolpica_client.
    monkeypatch.setenv("P3_JOLPICA_BURST_PER_SECOND", "10000")
    monkeypatch.setenv("P3_JOLPICA_HOURLY_LIMIT", "1000000")


def run_ingest() -> dg.ExecuteInProcessResult:
    defs = build_definitions(load_settings())
    job = defs.resolve_job_def("ingest_ergast_job")
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key="2020")


def counts() -> dict[str, int]:
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        return {
            name: con.execute(f"SELECT count(*) FROM {spec.qualified_name}").fetchall()[0][0]
            for name, spec in TABLES.items()
        }


def test_a_season_loads_from_the_api_and_a_rerun_fetches_no_race_again(
    jolpica_env: None, jolpica_server: JolpicaTestServer, contract_csv: ContractCsv
) -> None:
    first = run_ingest()
    assert first.success
    loaded = counts()
    for table in ("results", "qualifying", "lap_times", "pit_stops", "driver_standings"):
        assert loaded[table] == contract_csv.season(table, 2020).num_rows, table
    stats = next(
        e.materialization.metadata
        for e in first.get_asset_materialization_events()
        if e.asset_key.path[1] == "ergast__lap_times"
    )
    assert stats["jolpica_requests"].value > 0
    assert stats["source"].value == "jolpica"

    requests_before = len(jolpica_server.requests)
    assert run_ingest().success
    rerun_paths = jolpica_server.paths()[requests_before:]
    assert counts() == loaded
    # Every 2020 race is held now: no per-race results, laps or pit stops are requested again.
    per_race = [p for p in rerun_paths if p.startswith("/2020/") and p.count("/") >= 3]
    assert per_race == []
