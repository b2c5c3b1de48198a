"""A load is validated before it replaces anything: rejected loads leave the table as it was and
never become the baseline; partial data that every row-level rule accepts is caught."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from p3_common.ergast import TABLES
from p3_ingest.ingest import ingest_table
from p3_ingest.quality import LoadRejected, validate_table
from p3_ingest.sources.demo import DemoSource
from p3_ingest.sources.dump import DumpSource
from p3_ingest.sources.errors import SourceError
from p3_ingest.sources.schema import empty_table
from p3_ingest.warehouse import raw_table_counts
from tests.fixtures.dumps import small_demo_source, write_demo_dump


class EmptyTables:
    """The small demo source with some tables' files reduced to their header."""

    def __init__(self, *empty: str) -> None:
        self.inner: DemoSource = small_demo_source()
        self.name = self.inner.name
        self.empty = set(empty)

    def seasons(self) -> list[int]:
        return self.inner.seasons()

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        return self.inner.columns_not_provided(table)

    def reference_table(self, table: str) -> pa.Table:
        return empty_table(table) if table in self.empty else self.inner.reference_table(table)

    def season_table(self, table: str, season: int) -> pa.Table:
        return empty_table(table) if table in self.empty else self.inner.season_table(table, season)


RACE_TABLES = [name for name, spec in TABLES.items() if spec.season_scoped]


def load(con: duckdb.DuckDBPyConnection, source: object, tables: list[str], run: str) -> None:
    for table in tables:
        ingest_table(con, source, table, run_id=run, seasons=[2023, 2024])  # type: ignore[arg-type]


def test_header_only_race_files_are_rejected_on_every_run_and_never_become_the_baseline(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    before = raw_table_counts(demo_con)
    empty = EmptyTables(*RACE_TABLES)
    for attempt in range(3):  # the old baseline-from-any-load bug let the third run through
        for table in RACE_TABLES:
            with pytest.raises(LoadRejected) as rejected:
                ingest_table(
                    demo_con, empty, table, run_id=f"empty-{attempt}", seasons=[2023, 2024]
                )
            assert f"{table}_row_count_did_not_drop_sharply" in str(rejected.value)
            assert "the table keeps its last accepted rows" in str(rejected.value)
    assert raw_table_counts(demo_con) == before


def test_an_empty_reference_table_is_rejected(demo_con: duckdb.DuckDBPyConnection) -> None:
    before = raw_table_counts(demo_con)
    with pytest.raises(LoadRejected, match="drivers_row_count_did_not_drop_sharply"):
        ingest_table(demo_con, EmptyTables("drivers"), "drivers", run_id="empty")
    assert raw_table_counts(demo_con) == before


def test_a_first_load_without_results_for_past_races_is_rejected(tmp_path: Path) -> None:
    # Nothing to compare row counts with on a fresh warehouse: completeness still catches it.
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
        source = EmptyTables("results")
        for table in ("circuits", "constructors", "drivers", "seasons", "status", "races"):
            ingest_table(con, source, table, run_id="first", seasons=[2023, 2024])
        with pytest.raises(LoadRejected, match=r"results_is_complete: every race held 3 or more"):
            ingest_table(con, source, "results", run_id="first", seasons=[2023, 2024])
        assert con.execute("SELECT count(*) FROM raw.ergast__results").fetchall() == [(0,)]


def test_a_deliberate_shrink_is_accepted_when_asked(demo_con: duckdb.DuckDBPyConnection) -> None:
    ingest_table(
        demo_con, EmptyTables("constructor_results"), "constructor_results",
        run_id="correction", seasons=[2024], accept_row_drop=True,
    )  # fmt: skip
    rows = demo_con.execute(
        "SELECT count(*) FROM raw.ergast__constructor_results WHERE _season = 2024"
    ).fetchall()
    assert rows == [(0,)]


def completeness(con: duckdb.DuckDBPyConnection, table: str) -> tuple[bool, int]:
    report = validate_table(con, table, seasons=[2024])
    (result,) = [r for r in report.results if r.group.value == "is_complete"]
    return result.success, result.unexpected_count


def test_completeness_holds_on_clean_data(demo_con: duckdb.DuckDBPyConnection) -> None:
    for table in ("races", "results", "lap_times", "pit_stops", "driver_standings"):
        assert completeness(demo_con, table) == (True, 0), table


def test_a_race_with_half_its_lap_rows_is_incomplete(demo_con: duckdb.DuckDBPyConnection) -> None:
    demo_con.execute(
        "DELETE FROM raw.ergast__lap_times WHERE race_id = 202403 AND driver_id IN "
        "(SELECT DISTINCT driver_id FROM raw.ergast__lap_times WHERE race_id = 202403 "
        "ORDER BY 1 LIMIT 10)"
    )
    assert completeness(demo_con, "lap_times") == (False, 1)


def test_a_past_race_without_results_is_incomplete(demo_con: duckdb.DuckDBPyConnection) -> None:
    demo_con.execute("DELETE FROM raw.ergast__results WHERE race_id = 202402")
    assert completeness(demo_con, "results") == (False, 1)


def test_a_pit_stop_after_the_race_distance_is_caught(demo_con: duckdb.DuckDBPyConnection) -> None:
    demo_con.execute(
        "UPDATE raw.ergast__pit_stops SET lap = 500 WHERE (race_id, driver_id, stop) = "
        "(SELECT (race_id, driver_id, stop) FROM raw.ergast__pit_stops WHERE _season = 2024 "
        "ORDER BY ALL LIMIT 1)"
    )
    assert completeness(demo_con, "pit_stops") == (False, 1)


def test_a_race_with_results_but_no_standings_is_incomplete(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    demo_con.execute("DELETE FROM raw.ergast__driver_standings WHERE race_id = 202401")
    assert completeness(demo_con, "driver_standings") == (False, 1)


def test_a_dump_file_that_differs_from_its_checksum_is_named(tmp_path: Path) -> None:
    dump = write_demo_dump(tmp_path / "dump")
    listing = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in sorted(dump.glob("*.csv"))
    )
    (dump / "SHA256SUMS").write_text(listing)
    assert DumpSource(dump).season_table("results", 2024).num_rows > 0  # intact: verified, read

    lines = (dump / "lap_times.csv").read_text().splitlines(keepends=True)
    (dump / "lap_times.csv").write_text("".join(lines[:-3]))  # cut at a line boundary
    with pytest.raises(SourceError, match=r"lap_times\.csv differs from the dump's SHA256SUMS"):
        DumpSource(dump).season_table("lap_times", 2024)
    zipped = shutil.make_archive(str(tmp_path / "dump"), "zip", dump)
    with pytest.raises(SourceError, match=r"lap_times\.csv differs"):
        DumpSource(Path(zipped)).season_table("lap_times", 2024)
