"""Every table's rules hold on clean data: the demo championship and the real 1950-2024 history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from p3_common.ergast import SEASON_TABLES, TABLES
from p3_ingest.ingest import ingest_table
from p3_ingest.quality import CheckGroup, ValidationReport, groups_for, validate_table
from p3_ingest.sources.jolpica import JolpicaClient, JolpicaSource, RateLimiter
from p3_ingest.warehouse import DuckDBCatalog
from tests.p3_dagster.ergast.jolpica_server import ErgastApi, ErgastData, JolpicaTestServer


def describe_failures(report: ValidationReport) -> str:
    return "\n".join(
        f"{r.name}: {r.unexpected_count} unexpected {r.unexpected_values} {r.error or ''}"
        for r in report.failures
    )


@pytest.mark.parametrize("table", list(TABLES))
def test_every_suite_passes_on_clean_demo_data(
    demo_con: duckdb.DuckDBPyConnection, table: str
) -> None:
    report = validate_table(demo_con, table)
    assert report.passed, describe_failures(report)
    assert report.rows_validated > 0
    # Every applicable check has expectations; none is vacuously true.
    assert all(report.group(group) for group in groups_for(table))


@pytest.mark.parametrize("table", SEASON_TABLES)
def test_season_tables_validate_only_the_seasons_asked_for(
    demo_con: duckdb.DuckDBPyConnection, table: str
) -> None:
    whole = validate_table(demo_con, table)
    one = validate_table(demo_con, table, seasons=[2024])
    assert one.passed and one.seasons == (2024,)
    assert 0 < one.rows_validated < whole.rows_validated


def test_a_season_without_rows_passes(demo_con: duckdb.DuckDBPyConnection) -> None:
    # Lap times start in 1996 and pit stops in 2011: a load of earlier seasons writes no rows.
    report = validate_table(demo_con, "lap_times", seasons=[2030])
    assert report.passed and report.rows_validated == 0


def test_a_reference_table_cannot_be_validated_by_season(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    with pytest.raises(ValueError, match="reference table"):
        validate_table(demo_con, "drivers", seasons=[2024])


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("table", list(TABLES))
def test_every_suite_passes_on_the_real_history(
    real_con: duckdb.DuckDBPyConnection, table: str
) -> None:
    report = validate_table(real_con, table)
    assert report.passed, describe_failures(report)
    assert CheckGroup.VALUES in {r.group for r in report.results}


@pytest.mark.real_data
@pytest.mark.slow
def test_validating_a_season_range_covers_every_row_of_it(
    real_con: duckdb.DuckDBPyConnection,
) -> None:
    # Speed is measured in bench/quality.py; here only that the range is validated whole.
    report = validate_table(real_con, "lap_times", seasons=list(range(1996, 2021)))
    assert report.passed and report.rows_validated == 490_904


@pytest.mark.real_data
@pytest.mark.slow
def test_every_suite_passes_on_a_season_loaded_through_the_api(ergast_dir: Path) -> None:
    # 2023 has sprints, a sprint shootout and four races of Jolpica lap data; the API source
    # derives milliseconds and ids itself, so its rows must meet the same rules as the dump's.
    server = JolpicaTestServer(ErgastApi(ErgastData(ergast_dir, (2023,)))).start()
    limiter = RateLimiter(per_second=10_000, per_hour=10_000_000)  # a local server needs no pacing
    try:
        with (
            duckdb.connect() as con,
            JolpicaClient(server.base_url, rate_limiter=limiter) as client,
        ):
            source = JolpicaSource(client, DuckDBCatalog(con), today=date(2025, 1, 1))
            for table in TABLES:
                ingest_table(con, source, table, run_id="api-load", seasons=[2023])
            reports = [
                validate_table(con, t, seasons=[2023] if TABLES[t].season_scoped else None)
                for t in TABLES
            ]
    finally:
        server.stop()
    assert all(r.rows_validated > 0 for r in reports)
    assert [describe_failures(r) for r in reports if not r.passed] == []
