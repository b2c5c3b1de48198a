"""The snapshot contract (p3_common.snapshot): what publish writes is what every reader reads back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from p3_common.snapshot import (
    BUILD_TABLE,
    TABLES_TABLE,
    NotASnapshot,
    SnapshotError,
    SnapshotMissing,
    open_snapshot,
    read_meta,
    read_snapshot,
    snapshot_cursor,
)
from p3_ingest.publish import publish_snapshot


@pytest.fixture
def published(tmp_path: Path) -> Path:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.points AS SELECT range AS driver_id FROM range(7)")
        con.execute("CREATE TABLE marts.races AS SELECT range AS race_id FROM range(3)")
    # An apostrophe and a space: the path is bound as a parameter, never quoted into SQL.
    target = tmp_path / "it's served" / "serving.duckdb"
    publish_snapshot(warehouse, target, run_id="run-1")
    return target


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_a_missing_file_is_a_one_line_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.duckdb"
    for read in (open_snapshot, read_snapshot):
        with pytest.raises(SnapshotMissing) as exc:
            read(missing)
        assert f"no published snapshot at {missing}" in one_line(exc)
    assert read_snapshot(missing, missing_ok=True) is None


@pytest.mark.parametrize("kind", ["text", "sqlite", "empty", "duckdb without meta", "directory"])
def test_a_file_that_is_not_a_p3_snapshot_is_a_one_line_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "serving.duckdb"
    if kind == "text":
        path.write_bytes(b"this is not a duckdb file\n" * 100)
    elif kind == "sqlite":
        with sqlite3.connect(path) as con:  # never handed to DuckDB's sqlite scanner
            con.execute("CREATE TABLE build (build_id TEXT)")
    elif kind == "empty":
        path.touch()
    elif kind == "duckdb without meta":
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE SCHEMA marts")
            con.execute("CREATE TABLE marts.points AS SELECT 1 AS x")
    else:
        path.mkdir()
    with pytest.raises(NotASnapshot) as exc:
        open_snapshot(path)
    assert str(path) in one_line(exc)
    with pytest.raises(SnapshotError):
        read_snapshot(path, missing_ok=True)  # only a missing file is "no snapshot"


def test_build_id_and_tables_read_back_after_a_publish(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.points AS SELECT range AS driver_id FROM range(7)")
    published = tmp_path / "serving.duckdb"
    written = publish_snapshot(warehouse, published, run_id="run-1")
    read = read_snapshot(published)
    assert read == written
    assert (read.build_id, read.run_id, read.tables) == (
        written.build_id,
        "run-1",
        {"marts.points": 7},
    )
    with open_snapshot(published) as con:
        assert read_meta(con) == written
        # The meta tables are where the contract says.
        assert con.execute(f"SELECT build_id FROM {BUILD_TABLE}").fetchone() == (read.build_id,)
        assert con.execute(f"SELECT count(*) FROM {TABLES_TABLE}").fetchone() == (1,)


def test_a_path_with_quotes_and_spaces_opens(published: Path) -> None:
    snapshot = read_snapshot(published)
    assert snapshot.path == published
    assert snapshot.tables == {"marts.points": 7, "marts.races": 3}


def test_the_opener_is_read_only(published: Path) -> None:
    before = read_snapshot(published)
    with open_snapshot(published) as con:
        cursor = snapshot_cursor(con)
        for sql in (
            "CREATE TABLE marts.sneaky AS SELECT 1 AS x",
            f"UPDATE {BUILD_TABLE} SET build_id = 'forged'",
            "DELETE FROM marts.points",
        ):
            for connection in (con, cursor):
                with pytest.raises(duckdb.Error, match="read-only"):
                    connection.execute(sql)
        # A cursor reads the snapshot too, not the private in-memory database.
        assert cursor.execute("SELECT count(*) FROM marts.points").fetchone() == (7,)
        cursor.close()
    assert read_snapshot(published) == before


def test_a_reader_keeps_its_build_while_the_file_is_replaced(
    published: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    first = read_snapshot(published)
    with open_snapshot(published) as con:
        with duckdb.connect(str(warehouse)) as writer:
            writer.execute("INSERT INTO marts.points VALUES (100)")
        second = publish_snapshot(warehouse, published, run_id="run-2")
        assert second.build_id != first.build_id
        assert read_meta(con).build_id == first.build_id  # the open file is the old inode
    assert read_snapshot(published).build_id == second.build_id  # a new opener sees the new one
