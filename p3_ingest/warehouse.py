"""The raw layer of the DuckDB warehouse: idempotent, transactional loads of Ergast tables, and what they hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from p3_common.ergast import (
    LOADED_AT_COLUMN,
    RAW_SCHEMA,
    RUN_ID_COLUMN,
    SEASON_COLUMN,
    SOURCE_COLUMN,
    TABLES,
    TableSpec,
)
from p3_common.transaction import registered, transaction

from .sources.errors import SourceError
from .sources.schema import DUCKDB_TYPES, arrow_schema, empty_table

# Runs inside the load's transaction after the new rows are in place; raising rolls the load back.
BeforeCommit = Callable[[duckdb.DuckDBPyConnection], None]


@dataclass(frozen=True)
class LoadResult:
    """What one load wrote: rows inserted (in all and per season) and rows it replaced."""

    table: str
    source: str
    rows: int
    replaced_rows: int
    rows_by_season: dict[int, int] = field(default_factory=dict)


def lineage_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """The loader-owned columns appended to every raw table, with their DuckDB types."""
    columns = [(SOURCE_COLUMN, "VARCHAR")]
    if spec.season_scoped:
        columns.append((SEASON_COLUMN, "INTEGER"))
    columns += [(LOADED_AT_COLUMN, "TIMESTAMPTZ"), (RUN_ID_COLUMN, "VARCHAR")]
    return columns


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create ``raw.ergast__<table>`` from the contract, or fail if an existing one has drifted."""
    spec = TABLES[table]
    expected = [(c.name, DUCKDB_TYPES[c.type]) for c in spec.columns] + lineage_columns(spec)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    existing = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [RAW_SCHEMA, spec.raw_table],
    ).fetchall()
    if not existing:
        ddl = ", ".join(
            f'"{name}" {sql_type}{" NOT NULL" if _required(spec, name) else ""}'
            for name, sql_type in expected
        )
        con.execute(f"CREATE TABLE {spec.qualified_name} ({ddl})")
        return
    existing_names = [name for name, _ in existing]
    expected_names = [name for name, _ in expected]
    if existing_names != expected_names:
        raise RuntimeError(
            f"warehouse table {spec.qualified_name} has columns {existing_names}, but the contract "
            f"expects {expected_names}; drop the table (or use a fresh P3_DUCKDB_PATH) and reload"
        )


def _required(spec: TableSpec, name: str) -> bool:
    if name in spec.column_names:
        return not spec.column(name).nullable
    return name != RUN_ID_COLUMN


def load_reference(
    con: duckdb.DuckDBPyConnection,
    table: str,
    data: pa.Table,
    *,
    source: str,
    run_id: str,
    keep_existing: Sequence[str] = (),
    before_commit: BeforeCommit | None = None,
) -> LoadResult:
    """Replace an unpartitioned table with ``data`` in one transaction.

    ``keep_existing`` names columns the source cannot fill (e.g. circuit altitude from the API):
    where ``data`` has null there, a row whose key is already in the warehouse keeps its value,
    so an incremental reload does not erase what the bulk dump loaded.
    """
    spec = TABLES[table]
    if spec.season_scoped:
        raise ValueError(f"{table!r} is season-scoped; use load_seasons()")
    for column in keep_existing:
        spec.column(column)  # KeyError names the table and the unknown column
    incoming = _with_lineage(spec, data, source=source, run_id=run_id, season=None)
    return _replace(
        con,
        spec,
        incoming,
        source=source,
        where_sql="TRUE",
        params=[],
        keep=keep_existing,
        before_commit=before_commit,
    )


def load_seasons(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frames: Mapping[int, pa.Table],
    *,
    source: str,
    run_id: str,
    before_commit: BeforeCommit | None = None,
) -> LoadResult:
    """Replace the rows of each given season with its frame, all seasons in one transaction.

    Running the same load twice leaves identical contract columns; a failure (or a rejection by
    ``before_commit``) leaves the previously loaded rows of every season untouched.
    """
    spec = TABLES[table]
    if not spec.season_scoped:
        raise ValueError(f"{table!r} is a reference table; use load_reference()")
    seasons = sorted(frames)
    parts = [
        _with_lineage(spec, frames[season], source=source, run_id=run_id, season=season)
        for season in seasons
    ]
    incoming = (
        pa.concat_tables(parts)
        if parts
        else _with_lineage(spec, empty_table(table), source=source, run_id=run_id, season=0)
    )
    result = _replace(
        con,
        spec,
        incoming,
        source=source,
        where_sql=f'"{SEASON_COLUMN}" IN (SELECT UNNEST(?::INTEGER[]))',
        params=[seasons],
        before_commit=before_commit,
    )
    by_season = {season: frames[season].num_rows for season in seasons}
    return LoadResult(table, source, result.rows, result.replaced_rows, by_season)


def _with_lineage(
    spec: TableSpec, data: pa.Table, *, source: str, run_id: str, season: int | None
) -> pa.Table:
    expected = arrow_schema(spec.name)
    if not data.schema.equals(expected, check_metadata=False):
        raise TypeError(
            f"{spec.name}: frame does not match the contract schema; pass it through conform() first"
        )
    n = data.num_rows
    loaded_at = datetime.now(UTC)
    columns = {SOURCE_COLUMN: pa.array([source] * n, pa.string())}
    if season is not None:
        columns[SEASON_COLUMN] = pa.array([season] * n, pa.int32())
    columns[LOADED_AT_COLUMN] = pa.array([loaded_at] * n, pa.timestamp("us", tz="UTC"))
    columns[RUN_ID_COLUMN] = pa.array([run_id] * n, pa.string())
    for name, values in columns.items():
        data = data.append_column(name, values)
    return data


def _replace(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    incoming: pa.Table,
    *,
    source: str,
    where_sql: str,
    params: list[object],
    keep: Sequence[str] = (),
    before_commit: BeforeCommit | None = None,
) -> LoadResult:
    ensure_raw_table(con, spec.name)
    keys = ", ".join(f'"{k}"' for k in spec.key)
    select = "SELECT * FROM _p3_incoming"
    if keep:
        kept = ", ".join(f'"{c}"' for c in keep)
        filled = ", ".join(f'coalesce(i."{c}", k."{c}") AS "{c}"' for c in keep)
        select = (
            f"SELECT i.* REPLACE ({filled}) "
            f"FROM _p3_incoming AS i LEFT JOIN _p3_kept AS k USING ({keys})"
        )
    with registered(con, "_p3_incoming", incoming), transaction(con):
        if keep:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _p3_kept AS "
                f"SELECT {keys}, {kept} FROM {spec.qualified_name} WHERE {where_sql}",
                params,
            )
        replaced = con.execute(
            f"DELETE FROM {spec.qualified_name} WHERE {where_sql}", params
        ).fetchall()
        con.execute(f"INSERT INTO {spec.qualified_name} BY NAME {select}")
        if keep:
            con.execute("DROP TABLE _p3_kept")  # a rollback drops it too
        _check_key_unique_in_table(con, spec, source)
        if before_commit is not None:
            before_commit(con)
    return LoadResult(spec.name, source, incoming.num_rows, int(replaced[0][0]) if replaced else 0)


def _check_key_unique_in_table(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, source: str
) -> None:
    # A key can be unique within one season's frame yet collide with another season's rows.
    keys = ", ".join(f'"{k}"' for k in spec.key)
    season = f', list(DISTINCT "{SEASON_COLUMN}")' if spec.season_scoped else ""
    dupe = con.execute(
        f"SELECT {keys}, count(*){season} FROM {spec.qualified_name} "
        f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if dupe is not None:
        key_values = dict(zip(spec.key, dupe[: len(spec.key)], strict=True))
        seasons = f" across seasons {dupe[-1]}" if spec.season_scoped else ""
        raise SourceError(
            source,
            spec.name,
            f"duplicate key {key_values} ({dupe[len(spec.key)]} rows{seasons}) in "
            f"{spec.qualified_name} after the load; nothing was changed",
            column=", ".join(spec.key),
        )


def raw_table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every raw Ergast table present in the warehouse."""
    present = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [RAW_SCHEMA],
        ).fetchall()
    }
    return {
        spec.name: con.execute(f"SELECT count(*) FROM {spec.qualified_name}").fetchall()[0][0]
        for spec in TABLES.values()
        if spec.raw_table in present
    }


class DuckDBCatalog:
    """``WarehouseCatalog`` over the live warehouse: ids, loaded rounds and rows already held."""

    _REF_COLUMNS = {
        "circuits": ("circuit_ref", "circuit_id"),
        "constructors": ("constructor_ref", "constructor_id"),
        "drivers": ("driver_ref", "driver_id"),
        "status": ("status", "status_id"),
    }

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def _exists(self, table: str) -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                [RAW_SCHEMA, TABLES[table].raw_table],
            ).fetchall()[0][0]
        )

    def ref_ids(self, table: str) -> dict[str, int]:
        if not self._exists(table):
            return {}
        ref, key = self._REF_COLUMNS[table]
        rows = self.con.execute(f"SELECT {ref}, {key} FROM {TABLES[table].qualified_name}")
        return dict(rows.fetchall())

    def race_ids(self, season: int) -> dict[int, int]:
        if not self._exists("races"):
            return {}
        rows = self.con.execute(
            f"SELECT round, race_id FROM {TABLES['races'].qualified_name} WHERE year = ?", [season]
        )
        return dict(rows.fetchall())

    def max_id(self, table: str, column: str) -> int:
        if not self._exists(table) or column not in TABLES[table].column_names:
            return 0
        value = self.con.execute(f'SELECT max("{column}") FROM {TABLES[table].qualified_name}')
        return int(value.fetchall()[0][0] or 0)

    def loaded_rounds(self, table: str, season: int) -> set[int]:
        if not self._exists(table) or not self._exists("races"):
            return set()
        races = TABLES["races"].qualified_name
        if table == "races":
            sql, params = f"SELECT round FROM {races} WHERE year = ?", [season]
        else:
            sql = (
                f"SELECT DISTINCT r.round FROM {TABLES[table].qualified_name} t "
                f"JOIN {races} r USING (race_id) WHERE t.{SEASON_COLUMN} = ?"
            )
            params = [season]
        return {row[0] for row in self.con.execute(sql, params).fetchall()}

    def existing_rows(self, table: str, season: int) -> pa.Table:
        if not self._exists(table):
            return empty_table(table)
        columns = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
        data = self.con.sql(
            f"SELECT {columns} FROM {TABLES[table].qualified_name} "
            f'WHERE "{SEASON_COLUMN}" = ? ORDER BY ALL',
            params=[season],
        ).to_arrow_table()
        return data.cast(arrow_schema(table))
