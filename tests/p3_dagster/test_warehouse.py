"""The raw layer: transactional season replacement, idempotency, drift and catalog queries."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from p3_ingest.sources.errors import SourceError
from p3_ingest.sources.schema import conform
from p3_ingest.warehouse import (
    DuckDBCatalog,
    ensure_raw_table,
    load_reference,
    load_seasons,
    raw_table_counts,
)

CONTRACT = "race_id, driver_id, lap, position, time, milliseconds"


def laps(race_id: int, driver_id: int, n: int, base_ms: int = 90_000) -> pa.Table:
    return conform(
        pa.table(
            {
                "race_id": [race_id] * n,
                "driver_id": [driver_id] * n,
                "lap": list(range(1, n + 1)),
                "position": [1] * n,
                "time": [None] * n,
                "milliseconds": [base_ms + i for i in range(n)],
            }
        ),
        "lap_times",
        source="test",
    )


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        yield connection


def snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"SELECT {CONTRACT}, _source, _season FROM raw.ergast__lap_times ORDER BY ALL"
    ).fetchall()


def test_loading_a_season_twice_leaves_identical_rows(con: duckdb.DuckDBPyConnection) -> None:
    frames = {2020: laps(1, 1, 3), 2021: laps(2, 1, 4)}
    load_seasons(con, "lap_times", frames, source="test", run_id="a")
    first = snapshot(con)
    result = load_seasons(con, "lap_times", frames, source="test", run_id="b")
    assert snapshot(con) == first
    assert (result.rows, result.replaced_rows, result.rows_by_season) == (7, 7, {2020: 3, 2021: 4})
    assert con.execute("SELECT DISTINCT _run_id FROM raw.ergast__lap_times").fetchall() == [("b",)]


def test_a_season_load_replaces_only_its_seasons(con: duckdb.DuckDBPyConnection) -> None:
    load_seasons(
        con, "lap_times", {2020: laps(1, 1, 3), 2021: laps(2, 1, 4)}, source="t", run_id="a"
    )
    load_seasons(con, "lap_times", {2021: laps(2, 1, 2)}, source="t", run_id="b")
    by_season = dict(
        con.execute("SELECT _season, count(*) FROM raw.ergast__lap_times GROUP BY 1").fetchall()
    )
    assert by_season == {2020: 3, 2021: 2}


def test_a_key_colliding_with_another_season_rolls_back_everything(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_seasons(con, "lap_times", {2020: laps(1, 1, 3)}, source="t", run_id="a")
    before = snapshot(con)
    with pytest.raises(SourceError, match=r"duplicate key .* across seasons"):
        # race 1 belongs to 2020; a 2021 frame repeating its laps is bad input
        load_seasons(con, "lap_times", {2021: laps(1, 1, 2)}, source="t", run_id="b")
    assert snapshot(con) == before


def test_reference_tables_are_replaced_whole(con: duckdb.DuckDBPyConnection) -> None:
    def status(*rows: tuple[int, str]) -> pa.Table:
        ids, texts = zip(*rows, strict=True)
        return conform(pa.table({"status_id": ids, "status": texts}), "status", source="t")

    load_reference(
        con, "status", status((1, "Finished"), (2, "Disqualified")), source="t", run_id="a"
    )
    load_reference(con, "status", status((1, "Finished")), source="t", run_id="b")
    assert con.execute("SELECT status_id, status FROM raw.ergast__status").fetchall() == [
        (1, "Finished")
    ]
    assert raw_table_counts(con) == {"status": 1}


def test_a_drifted_warehouse_table_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.ergast__status (status_id INTEGER)")
    with pytest.raises(RuntimeError, match="raw.ergast__status has columns"):
        ensure_raw_table(con, "status")


def test_frames_must_be_conformed_first(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(TypeError, match="conform"):
        load_seasons(con, "lap_times", {2020: pa.table({"race_id": [1]})}, source="t", run_id="a")


def test_catalog_reports_what_is_loaded(con: duckdb.DuckDBPyConnection) -> None:
    catalog = DuckDBCatalog(con)
    assert catalog.max_id("lap_times", "race_id") == 0
    assert catalog.existing_rows("lap_times", 2020).num_rows == 0
    load_seasons(
        con, "lap_times", {2020: laps(1, 1, 3), 2021: laps(2, 1, 4)}, source="t", run_id="a"
    )
    assert catalog.max_id("lap_times", "race_id") == 2
    assert catalog.existing_rows("lap_times", 2021).num_rows == 4
    assert catalog.existing_rows("lap_times", 2021).schema.equals(laps(1, 1, 1).schema)


def circuits(*rows: tuple[int, str, int | None]) -> pa.Table:
    return conform(
        pa.table(
            {
                "circuit_id": [r[0] for r in rows],
                "circuit_ref": [r[1] for r in rows],
                "name": [r[1].title() for r in rows],
                "location": [None] * len(rows),
                "country": [None] * len(rows),
                "lat": [None] * len(rows),
                "lng": [None] * len(rows),
                "alt": [r[2] for r in rows],
                "url": [None] * len(rows),
            }
        ),
        "circuits",
        source="t",
    )


def test_a_reload_keeps_warehouse_values_of_columns_the_source_cannot_fill(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_reference(con, "circuits", circuits((1, "monza", 162), (2, "spa", 401)), source="dump",
                   run_id="a")  # fmt: skip
    # The API reload: no altitudes, Spa gone, a new circuit.
    reload = circuits((1, "monza", None), (3, "vegas", None))
    load_reference(con, "circuits", reload, source="jolpica", run_id="b", keep_existing=["alt"])
    rows = "SELECT circuit_id, alt, _source FROM raw.ergast__circuits ORDER BY 1"
    assert con.execute(rows).fetchall() == [(1, 162, "jolpica"), (3, None, "jolpica")]
    # Without it, a reload is a plain replacement: nulls are what the source said.
    load_reference(con, "circuits", reload, source="jolpica", run_id="c")
    assert con.execute(rows).fetchall() == [(1, None, "jolpica"), (3, None, "jolpica")]
    with pytest.raises(KeyError, match="no column 'altitude'"):
        load_reference(con, "circuits", reload, source="t", run_id="d", keep_existing=["altitude"])


def test_a_failed_reload_that_keeps_columns_reports_its_own_error_and_changes_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_reference(con, "circuits", circuits((1, "monza", 162)), source="dump", run_id="a")
    # A constraint the warehouse enforces and the contract does not: the INSERT inside the
    # reload's transaction fails, after the kept values were set aside.
    ddl = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE table_name = 'ergast__circuits'"
    ).fetchall()[0][0]
    con.execute("CREATE TEMP TABLE saved AS SELECT * FROM raw.ergast__circuits")
    con.execute("DROP TABLE raw.ergast__circuits")
    con.execute(ddl.rstrip(";").rstrip()[:-1] + ", CHECK (alt IS NULL OR alt < 5000))")
    con.execute("INSERT INTO raw.ergast__circuits SELECT * FROM saved")
    too_high = circuits((1, "monza", None), (2, "everest", 8848))
    with pytest.raises(duckdb.ConstraintException, match="CHECK constraint"):
        load_reference(con, "circuits", too_high, source="jolpica", run_id="b",
                       keep_existing=["alt"])  # fmt: skip
    rows = "SELECT circuit_id, alt, _run_id FROM raw.ergast__circuits ORDER BY 1"
    assert con.execute(rows).fetchall() == [(1, 162, "a")]
    # The scratch table went with the rollback: the next reload works.
    load_reference(con, "circuits", circuits((1, "monza", None)), source="jolpica", run_id="c",
                   keep_existing=["alt"])  # fmt: skip
    assert con.execute(rows).fetchall() == [(1, 162, "c")]
