"""Each kind of bad load is caught by the expectation meant for it, and by no other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from p3_common.ergast import TABLES
from p3_ingest.quality import (
    Baseline,
    CheckGroup,
    LoadRejected,
    failures_markdown,
    row_counts,
    rules_for,
    validate_table,
)
from p3_ingest.quality.rules import expected_columns
from p3_ingest.quality.sql_checks import check_row_counts
from tests.fixtures.dumps import small_demo_source
from tests.p3_dagster.quality.conftest import load_warehouse

# The small demo championship: race_id = year * 100 + round, result_id = race_id * 100 + n.
RESULT_2024 = "result_id = 20240101"
FIRST_LAP_2024 = (
    "(race_id, driver_id, lap) = "
    "(SELECT (race_id, driver_id, lap) FROM raw.ergast__lap_times WHERE _season = 2024 "
    "ORDER BY ALL LIMIT 1)"
)
FIRST_STOP_2024 = (
    "(race_id, driver_id, stop) = "
    "(SELECT (race_id, driver_id, stop) FROM raw.ergast__pit_stops WHERE _season = 2024 "
    "ORDER BY ALL LIMIT 1)"
)


@dataclass(frozen=True)
class Fault:
    """SQL that damages the demo warehouse, and the one expectation that must catch it."""

    table: str
    sql: str
    caught_by: frozenset[str]
    offending: object  # a value that must appear in the sample of offending rows


FAULTS = {
    "duplicate_result_id": Fault(
        "results",
        f"INSERT INTO raw.ergast__results SELECT * FROM raw.ergast__results WHERE {RESULT_2024}",
        frozenset(
            {
                "result_id is unique in the rows validated",
                "result_id is unique across the whole table",
            }
        ),
        20240101,
    ),
    "result_id_reused_from_an_earlier_season": Fault(
        "results",
        f"UPDATE raw.ergast__results SET result_id = 20230101 WHERE {RESULT_2024}",
        frozenset({"result_id is unique across the whole table"}),
        20230101,
    ),
    "dangling_driver_id": Fault(
        "results",
        f"UPDATE raw.ergast__results SET driver_id = 999999 WHERE {RESULT_2024}",
        frozenset({"every driver_id exists in raw.ergast__drivers"}),
        999999,
    ),
    "unknown_status_id": Fault(
        "results",
        f"UPDATE raw.ergast__results SET status_id = 9999 WHERE {RESULT_2024}",
        frozenset({"every status_id exists in raw.ergast__status"}),
        9999,
    ),
    "position_outside_the_grid": Fault(
        "results",
        f"UPDATE raw.ergast__results SET position = 41 WHERE {RESULT_2024}",
        frozenset({"position between 1 and 40"}),
        41,
    ),
    "grid_slot_beyond_forty": Fault(
        "results",
        f"UPDATE raw.ergast__results SET grid = 55 WHERE {RESULT_2024}",
        frozenset({"grid between 0 and 40"}),
        55,
    ),
    "unknown_position_text": Fault(
        "results",
        f"UPDATE raw.ergast__results SET position_text = 'X' WHERE {RESULT_2024}",
        frozenset({"position_text is digits or R/D/E/W/F/N"}),
        "X",
    ),
    "unknown_source": Fault(
        "results",
        f"UPDATE raw.ergast__results SET _source = 'scraped' WHERE {RESULT_2024}",
        frozenset({"_source in {demo, dump, jolpica}"}),
        "scraped",
    ),
    "race_of_another_season": Fault(
        "results",
        f"UPDATE raw.ergast__results SET race_id = 202301 WHERE {RESULT_2024}",
        frozenset({"every race_id is a race of the row's season (_season)"}),
        202301,
    ),
    "negative_lap_time": Fault(
        "lap_times",
        f"UPDATE raw.ergast__lap_times SET milliseconds = -1 WHERE {FIRST_LAP_2024}",
        frozenset({"milliseconds between 30,000 and 10,800,000"}),
        -1,
    ),
    "negative_pit_stop": Fault(
        "pit_stops",
        f"UPDATE raw.ergast__pit_stops SET milliseconds = -500 WHERE {FIRST_STOP_2024}",
        frozenset({"milliseconds between 5,000 and 10,800,000"}),
        -500,
    ),
    "malformed_qualifying_time": Fault(
        "qualifying",
        "UPDATE raw.ergast__qualifying SET q1 = 'fast' WHERE qualify_id = "
        "(SELECT min(qualify_id) FROM raw.ergast__qualifying WHERE _season = 2024)",
        frozenset({"q1 is m:ss.sss"}),
        "fast",
    ),
    "race_year_differs_from_its_season": Fault(
        "races",
        "UPDATE raw.ergast__races SET year = 2023 WHERE race_id = 202401",
        frozenset({"year equals the season partition _season"}),
        2023,
    ),
    "dangling_circuit_id": Fault(
        "races",
        "UPDATE raw.ergast__races SET circuit_id = 99999 WHERE race_id = 202401",
        frozenset({"every circuit_id exists in raw.ergast__circuits"}),
        99999,
    ),
    "latitude_off_the_globe": Fault(
        "circuits",
        "UPDATE raw.ergast__circuits SET lat = 123.4 WHERE circuit_id = "
        "(SELECT min(circuit_id) FROM raw.ergast__circuits)",
        frozenset({"lat between -90 and 90"}),
        123.4,
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_each_fault_is_caught_by_its_intended_expectation(
    demo_con: duckdb.DuckDBPyConnection, fault: Fault
) -> None:
    demo_con.execute(fault.sql)
    seasons = [2024] if TABLES[fault.table].season_scoped else None

    report = validate_table(demo_con, fault.table, seasons=seasons)

    assert {r.name for r in report.failures} == fault.caught_by
    for failure in report.failures:
        assert failure.unexpected_count >= 1
        assert fault.offending in failure.unexpected_values or any(
            fault.offending in row.values() for row in failure.sample_rows
        ), failure
    assert str(fault.offending) in failures_markdown(report.results)


def test_every_rule_name_is_unique_within_its_table() -> None:
    for table in TABLES:
        names = [rule.name for rule in rules_for(table)]
        assert len(names) == len(set(names)), table


def test_a_season_with_most_rows_missing_trips_the_row_count_guard(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    before = row_counts(demo_con, "results", [2023, 2024])
    previous = {season: Baseline(rows, run_id="run-before") for season, rows in before.items()}
    demo_con.execute("DELETE FROM raw.ergast__results WHERE _season = 2024 AND result_id % 10 <> 1")
    after = row_counts(demo_con, "results", [2023, 2024])
    assert after["2024"] < before["2024"] / 2 and after["2023"] == before["2023"]

    report = validate_table(demo_con, "results", seasons=[2023, 2024], previous_rows=previous)

    (failure,) = report.failures
    assert failure.group is CheckGroup.ROW_COUNT
    (dropped,) = failure.sample_rows
    assert dropped["partition"] == "2024" and dropped["previous_run_id"] == "run-before"
    assert (dropped["previous_rows"], dropped["rows"]) == (before["2024"], after["2024"])
    assert failure.unexpected_count == before["2024"] - after["2024"]


def test_the_row_count_guard_passes_growth_small_dips_and_first_loads() -> None:
    rule = next(r for r in rules_for("results") if r.group is CheckGroup.ROW_COUNT)
    grew = check_row_counts(rule, {"2023": 500, "2024": 60}, {"2023": Baseline(400)})
    dipped = check_row_counts(rule, {"2024": 51}, {"2024": Baseline(100)})
    halved = check_row_counts(rule, {"2024": 49}, {"2024": Baseline(100)})
    first = check_row_counts(rule, {"2024": 10}, None)
    assert grew.success and dipped.success and first.success
    assert first.observed == "no previous load to compare with"
    assert not halved.success and halved.unexpected_count == 51


def test_a_column_type_drift_is_rejected_before_the_load_commits(tmp_path: Path) -> None:
    # The loader checks column names only; the types rule, run before the commit, rejects the load.
    path = tmp_path / "drifted.duckdb"
    columns = [
        f'"{name}" {"VARCHAR" if name == "grid" else sql_type}{"" if nullable else " NOT NULL"}'
        for name, sql_type, nullable in expected_columns("results")
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(f"CREATE TABLE raw.ergast__results ({', '.join(columns)})")
    with pytest.raises(LoadRejected, match="results_columns_match_the_contract"):
        load_warehouse(path, small_demo_source())

    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT count(*) FROM raw.ergast__results").fetchall() == [(0,)]
        report = validate_table(con, "results", seasons=[2024])

    types = next(r for r in report.results if r.rule.expectation.startswith("expect_column_types"))
    assert not types.success
    assert types.sample_rows == (
        {"column": "grid", "expected": "INTEGER NOT NULL", "found": "VARCHAR NOT NULL"},
    )


def test_a_dropped_column_fails_the_column_checks_without_crashing(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    demo_con.execute("ALTER TABLE raw.ergast__results DROP COLUMN fastest_lap_speed")

    report = validate_table(demo_con, "results", seasons=[2024])

    failed = {r.name: r for r in report.failures}
    assert {
        "the columns are the contract's plus lineage, in order",
        "column types and NOT NULL constraints match the contract",
        "fastest_lap_speed between 50 and 450",
    } == set(failed)
    types = failed["column types and NOT NULL constraints match the contract"]
    assert types.sample_rows[0]["found"] == "missing"
    assert failed["fastest_lap_speed between 50 and 450"].error


def test_a_missing_parent_table_fails_the_reference_check(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    demo_con.execute("DROP TABLE raw.ergast__status")

    report = validate_table(demo_con, "results", seasons=[2024])

    (failure,) = report.failures
    assert failure.error == "parent table raw.ergast__status does not exist"


def test_a_table_never_loaded_fails_every_check(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        report = validate_table(con, "results", seasons=[2024])
    assert not any(report.group_passed(group) for group in CheckGroup)
    assert all("does not exist" in (r.error or "") for r in report.results)
