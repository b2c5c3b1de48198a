"""The snapshot contract: what a published P3 snapshot file holds and how readers open it.

A snapshot is a DuckDB file with the published marts plus two meta tables, written by the publish
step (``p3_ingest.publish``) and read by everything else (query engine, cache, CLIs, Dagster):

- ``p3_meta.build``: one row ``(build_id, published_at, run_id)``; the build id is a content hash;
- ``p3_meta.tables``: ``(table_name, row_count)`` per published table, e.g. ``marts.dim_races``.

Readers never write it: ``open_snapshot`` ATTACHes the file ``READ_ONLY`` into a private in-memory
database (``duckdb.connect(path)`` would hand back a cached instance of a file that was since
replaced), with the path bound as a parameter, never quoted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal, overload

import duckdb

META_SCHEMA = "p3_meta"
BUILD_TABLE = f"{META_SCHEMA}.build"
TABLES_TABLE = f"{META_SCHEMA}.tables"
DATABASE = "snapshot"  # the name the opener ATTACHes the file under
_HINT = "run `p3 materialize` (or the serving/warehouse_snapshot asset)"


class SnapshotError(RuntimeError):
    """The snapshot cannot be read: missing, or not a P3 snapshot. The message names the path."""


class SnapshotMissing(SnapshotError):
    """No file at the snapshot path."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"no published snapshot at {path}: {_HINT} first")
        self.path = Path(path)


class NotASnapshot(SnapshotError):
    """The file is not a DuckDB database, or lacks the P3 meta tables."""


@dataclass(frozen=True)
class Snapshot:
    """What a published snapshot holds: its build id, when and from which run, and its tables."""

    build_id: str
    published_at: datetime
    run_id: str
    path: Path
    tables: dict[str, int]  # "marts.fct_race_results" -> rows


def open_snapshot(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the snapshot at ``path``, its meta tables checked.

    Use it as a context manager (``with open_snapshot(p) as con``) or close it yourself. Raises
    ``SnapshotMissing`` / ``NotASnapshot`` with a one-line message naming the path.
    """
    path = Path(path)
    if not path.exists():
        raise SnapshotMissing(path)
    if not path.is_file():
        raise NotASnapshot(f"{path} is not a P3 snapshot (not a file); {_HINT}")
    con = duckdb.connect(":memory:")
    try:
        # TYPE duckdb: never let the file's contents pick a scanner extension (sqlite, ...).
        con.execute(f"ATTACH ? AS {DATABASE} (TYPE duckdb, READ_ONLY)", [str(path)])
        con.execute(f"USE {DATABASE}")
        missing = _missing_meta_tables(con)
    except duckdb.Error as exc:
        con.close()
        raise NotASnapshot(f"{path} is not a P3 snapshot ({_first_line(exc)}); {_HINT}") from None
    except BaseException:
        con.close()
        raise
    if missing:
        con.close()
        raise NotASnapshot(
            f"{path} is not a P3 snapshot (no {' or '.join(missing)} table); {_HINT}"
        )
    return con


def snapshot_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another cursor on an ``open_snapshot`` connection, reading the snapshot (for other threads)."""
    cursor = con.cursor()
    cursor.execute(f"USE {DATABASE}")  # a new cursor starts in the in-memory database
    return cursor


def read_meta(con: duckdb.DuckDBPyConnection) -> Snapshot:
    """The meta tables of the snapshot ``con`` reads (an ``open_snapshot`` connection)."""
    row = con.execute(f"SELECT build_id, published_at, run_id FROM {BUILD_TABLE}").fetchone()
    if row is None:
        raise NotASnapshot(f"{_path_of(con)} is not a P3 snapshot ({BUILD_TABLE} is empty)")
    build_id, published_at, run_id = row
    tables = con.execute(f"SELECT table_name, row_count FROM {TABLES_TABLE}").fetchall()
    return Snapshot(
        build_id=str(build_id),
        published_at=published_at,
        run_id=str(run_id),
        path=_path_of(con),
        tables={str(name): int(rows) for name, rows in tables},
    )


@overload
def read_snapshot(path: Path | str, *, missing_ok: Literal[False] = False) -> Snapshot: ...
@overload
def read_snapshot(path: Path | str, *, missing_ok: bool) -> Snapshot | None: ...
def read_snapshot(path: Path | str, *, missing_ok: bool = False) -> Snapshot | None:
    """The snapshot published at ``path`` (opened read-only); with ``missing_ok``, None if no file."""
    try:
        con = open_snapshot(path)
    except SnapshotMissing:
        if missing_ok:
            return None
        raise
    with con:
        return replace(read_meta(con), path=Path(path))


def write_meta(
    con: duckdb.DuckDBPyConnection,
    *,
    build_id: str,
    published_at: datetime,
    run_id: str,
    tables: dict[str, int],
) -> None:
    """Create the meta tables in the (writable, not yet published) snapshot ``con`` is on."""
    con.execute(f"CREATE SCHEMA {META_SCHEMA}")
    con.execute(
        f"CREATE TABLE {BUILD_TABLE} AS "
        "SELECT ?::VARCHAR AS build_id, ?::TIMESTAMPTZ AS published_at, ?::VARCHAR AS run_id",
        [build_id, published_at, run_id],
    )
    con.execute(f"CREATE TABLE {TABLES_TABLE} (table_name VARCHAR, row_count BIGINT)")
    con.executemany(f"INSERT INTO {TABLES_TABLE} VALUES (?, ?)", list(tables.items()))


def _missing_meta_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    found = {
        f"{schema}.{table}"
        for schema, table in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
            [DATABASE],
        ).fetchall()
    }
    return [t for t in (BUILD_TABLE, TABLES_TABLE) if t not in found]


def _path_of(con: duckdb.DuckDBPyConnection) -> Path:
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0]) if row and row[0] else Path(":memory:")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "BUILD_TABLE",
    "META_SCHEMA",
    "TABLES_TABLE",
    "NotASnapshot",
    "Snapshot",
    "SnapshotError",
    "SnapshotMissing",
    "open_snapshot",
    "read_meta",
    "read_snapshot",
    "snapshot_cursor",
    "write_meta",
]
