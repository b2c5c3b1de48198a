"""Rules evaluated by DuckDB queries: column types, whole-table keys, foreign keys, row counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from p3_common.ergast import LOADED_AT_COLUMN, RAW_SCHEMA, RUN_ID_COLUMN, SEASON_COLUMN, TABLES

from .report import SAMPLE_SIZE, ExpectationResult, plain
from .rules import Rule, expected_columns

WHOLE_TABLE = "table"  # row-count scope of an unpartitioned table

# information_schema spells some types differently from the DDL the loader writes.
_TYPE_ALIASES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


@dataclass(frozen=True)
class Baseline:
    """The row count of a partition (or table) at its previous load, and the run that loaded it."""

    rows: int
    run_id: str | None = None


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when ``raw.ergast__<table>`` exists."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [RAW_SCHEMA, TABLES[table].raw_table],
        ).fetchall()[0][0]
    )


def season_filter(seasons: Sequence[int] | None, alias: str = "") -> tuple[str, list[Any]]:
    """SQL predicate (and parameters) selecting ``seasons``; None selects every row."""
    if seasons is None:
        return "TRUE", []
    prefix = f"{alias}." if alias else ""
    return f'{prefix}"{SEASON_COLUMN}" IN (SELECT UNNEST(?::INTEGER[]))', [list(seasons)]


READ_VECTORS = 10  # DuckDB vectors (2,048 rows each) converted to pandas at a time


def read_rows(
    con: duckdb.DuckDBPyConnection, table: str, seasons: Sequence[int] | None
) -> pd.DataFrame:
    """The rows to validate as a DataFrame: the given seasons, or the whole table.

    Converted a few vectors at a time: converting the whole result at once holds DuckDB's result
    and its pandas copy together, a transient +310 MiB for the full lap-times table (490k rows)
    against +140 MiB in chunks; that moment was the pipeline's peak RSS. Same frame either way.
    """
    where, params = season_filter(seasons)
    result = con.execute(
        f"SELECT * FROM {TABLES[table].qualified_name} WHERE {where}", params or None
    )
    chunks = [result.fetch_df_chunk(READ_VECTORS)]
    while len(chunk := result.fetch_df_chunk(READ_VECTORS)):
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def latest_load_seasons(con: duckdb.DuckDBPyConnection, table: str) -> list[int]:
    """Seasons written by the most recent load of a race-scoped table (the run of the newest row)."""
    rows = con.execute(
        f'SELECT DISTINCT "{SEASON_COLUMN}" FROM {TABLES[table].qualified_name} '
        f'WHERE "{RUN_ID_COLUMN}" = (SELECT "{RUN_ID_COLUMN}" FROM {TABLES[table].qualified_name} '
        f'ORDER BY "{LOADED_AT_COLUMN}" DESC LIMIT 1) ORDER BY 1'
    ).fetchall()
    return [int(season) for (season,) in rows]


def loaded_seasons_between(
    con: duckdb.DuckDBPyConnection, table: str, first: int, last: int
) -> list[int]:
    """Seasons from ``first`` to ``last`` that a race-scoped table holds rows for."""
    rows = con.execute(
        f'SELECT DISTINCT "{SEASON_COLUMN}" FROM {TABLES[table].qualified_name} '
        f'WHERE "{SEASON_COLUMN}" BETWEEN ? AND ? ORDER BY 1',
        [first, last],
    ).fetchall()
    return [int(season) for (season,) in rows]


def row_counts(
    con: duckdb.DuckDBPyConnection, table: str, seasons: Sequence[int] | None
) -> dict[str, int]:
    """Rows per season (every requested season, zero when absent), or of the whole table."""
    spec = TABLES[table]
    if not spec.season_scoped:
        total = con.execute(f"SELECT count(*) FROM {spec.qualified_name}").fetchall()[0][0]
        return {WHOLE_TABLE: int(total)}
    where, params = season_filter(seasons)
    found = dict(
        con.execute(
            f'SELECT "{SEASON_COLUMN}", count(*) FROM {spec.qualified_name} WHERE {where} GROUP BY 1',
            params,
        ).fetchall()
    )
    wanted = sorted(found) if seasons is None else sorted(seasons)
    return {str(season): int(found.get(season, 0)) for season in wanted}


def check_column_types(con: duckdb.DuckDBPyConnection, rule: Rule, table: str) -> ExpectationResult:
    """Column names, DuckDB types and NOT NULL constraints of the table against the contract."""
    found = {
        name: (sql_type, nullable == "YES")
        for name, sql_type, nullable in con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [RAW_SCHEMA, TABLES[table].raw_table],
        ).fetchall()
    }
    mismatched = []
    expected_names = set()
    for name, sql_type, nullable in expected_columns(table):
        expected_names.add(name)
        want = (_TYPE_ALIASES.get(sql_type, sql_type), nullable)
        if found.get(name) != want:
            mismatched.append(
                {"column": name, "expected": _show_type(*want), "found": _show_type(*found[name])}
                if name in found
                else {"column": name, "expected": _show_type(*want), "found": "missing"}
            )
    mismatched += [
        {"column": name, "expected": "absent", "found": _show_type(*found[name])}
        for name in found
        if name not in expected_names
    ]
    return ExpectationResult(
        rule=rule,
        success=not mismatched,
        unexpected_count=len(mismatched),
        element_count=len(found),
        unexpected_values=tuple(m["column"] for m in mismatched[:SAMPLE_SIZE]),
        sample_rows=tuple(mismatched[:SAMPLE_SIZE]),
        observed=f"{len(mismatched)} column(s) differ from the contract" if mismatched else None,
    )


def check_key_unique_across_table(
    con: duckdb.DuckDBPyConnection, rule: Rule, table: str
) -> ExpectationResult:
    """No natural-key value repeats anywhere in the table, across every season."""
    spec = TABLES[table]
    keys = ", ".join(f'"{k}"' for k in spec.key)
    seasons = (
        f', list(DISTINCT "{SEASON_COLUMN}" ORDER BY "{SEASON_COLUMN}") AS seasons'
        if spec.season_scoped
        else ""
    )
    frame = con.sql(
        f"SELECT {keys}, count(*) AS n_rows{seasons}, sum(count(*)) OVER () AS _unexpected "
        f"FROM {spec.qualified_name} GROUP BY {keys} HAVING count(*) > 1 "
        f"ORDER BY {keys} LIMIT {SAMPLE_SIZE}"
    ).df()
    return _from_sample(rule, frame, values=list(spec.key))


def check_parent_exists(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    table: str,
    seasons: Sequence[int] | None,
    sample_columns: list[str],
) -> ExpectationResult:
    """Every non-null value of the rule's column exists as a key of the parent table (anti-join)."""
    (column,) = rule.columns
    parent = TABLES[rule.kwargs["parent"]]
    if not table_exists(con, parent.name):
        return ExpectationResult(
            rule, success=False, error=f"parent table {parent.qualified_name} does not exist"
        )
    where, params = season_filter(seasons, alias="c")
    frame = con.sql(
        f"SELECT {_select(sample_columns, 'c')}, count(*) OVER () AS _unexpected "
        f"FROM {TABLES[table].qualified_name} c "
        f'WHERE {where} AND c."{column}" IS NOT NULL AND NOT EXISTS '
        f'(SELECT 1 FROM {parent.qualified_name} p WHERE p."{column}" = c."{column}") '
        f"ORDER BY {_select(sample_columns, 'c')} LIMIT {SAMPLE_SIZE}",
        params=params or None,
    ).df()
    return _from_sample(rule, frame, values=[column])


def check_race_season(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    table: str,
    seasons: Sequence[int] | None,
    sample_columns: list[str],
) -> ExpectationResult:
    """Every row's race is a race of the season partition the row was loaded into."""
    races = TABLES["races"]
    if not table_exists(con, "races"):
        return ExpectationResult(
            rule, success=False, error=f"{races.qualified_name} does not exist"
        )
    where, params = season_filter(seasons, alias="c")
    frame = con.sql(
        f"SELECT {_select(sample_columns, 'c')}, r.year AS race_year, "
        f"count(*) OVER () AS _unexpected "
        f"FROM {TABLES[table].qualified_name} c JOIN {races.qualified_name} r USING (race_id) "
        f'WHERE {where} AND r.year <> c."{SEASON_COLUMN}" '
        f"ORDER BY {_select(sample_columns, 'c')} LIMIT {SAMPLE_SIZE}",
        params=params or None,
    ).df()
    return _from_sample(rule, frame, values=["race_id"])


def check_row_counts(
    rule: Rule, current: Mapping[str, int], previous: Mapping[str, Baseline] | None
) -> ExpectationResult:
    """No partition fell below ``min_ratio`` of its previous load's row count.

    ``unexpected_count`` is the number of rows missing from the partitions that dropped.
    A partition without a previous load has nothing to compare with and passes.
    """
    min_ratio = float(rule.kwargs["min_ratio"])
    previous = previous or {}
    compared = {k: (previous[k], n) for k, n in current.items() if k in previous}
    fell = [
        (k, base, n)
        for k, (base, n) in compared.items()
        if 0 < base.rows and n < min_ratio * base.rows
    ]
    dropped = [
        {
            "partition": k,
            "previous_rows": base.rows,
            "rows": n,
            "ratio": round(n / base.rows, 3),
            "previous_run_id": base.run_id,
        }
        for k, base, n in fell
    ]
    if not compared:
        observed = "no previous load to compare with"
    else:
        observed = (
            f"{len(dropped)} of {len(compared)} partition(s) compared fell below {min_ratio:.0%}"
        )
    return ExpectationResult(
        rule=rule,
        success=not dropped,
        unexpected_count=sum(base.rows - n for _, base, n in fell),
        element_count=sum(current.values()),
        unexpected_values=tuple(k for k, _, _ in fell[:SAMPLE_SIZE]),
        sample_rows=tuple(dropped[:SAMPLE_SIZE]),
        observed=observed,
    )


def _from_sample(rule: Rule, frame: pd.DataFrame, values: list[str]) -> ExpectationResult:
    # Every sampled row carries the total count of offending rows (a window over the whole match).
    unexpected = int(frame["_unexpected"].iloc[0]) if len(frame) else 0
    rows = tuple(
        {k: plain(v) for k, v in row.items()}
        for row in frame.drop(columns="_unexpected").to_dict("records")
    )
    sample_values = tuple(
        dict.fromkeys(
            plain(tuple(row[v] for v in values)) if len(values) > 1 else row[values[0]]
            for row in rows
        )
    )
    return ExpectationResult(
        rule=rule,
        success=unexpected == 0,
        unexpected_count=unexpected,
        unexpected_values=sample_values,
        sample_rows=rows,
    )


def _select(columns: list[str], alias: str) -> str:
    return ", ".join(f'{alias}."{c}"' for c in columns)


def _show_type(sql_type: str, nullable: bool) -> str:
    return sql_type if nullable else f"{sql_type} NOT NULL"


# -- completeness: rows that agree with related tables ---------------------------------------


def check_completeness(
    con: duckdb.DuckDBPyConnection, rule: Rule, table: str, seasons: Sequence[int] | None
) -> ExpectationResult:
    """Partial data that every per-row rule accepts: the rule's query lists the races (or seasons)
    the loaded rows leave incomplete."""
    needed = _COMPLETENESS_NEEDS[rule.expectation]
    missing = [t for t in needed if not table_exists(con, t)]
    if missing:
        # Nothing to compare with yet; the references check names a missing parent table.
        return ExpectationResult(
            rule, success=True, observed=f"{', '.join(missing)} not loaded: nothing to compare"
        )
    query, params, values = _COMPLETENESS_QUERIES[rule.expectation](table, seasons, rule.kwargs)
    frame = con.sql(query, params=params or None).df()
    return _from_sample(rule, frame, values=values)


def _scoped_races(seasons: Sequence[int] | None) -> tuple[str, list[Any]]:
    where, params = season_filter(seasons, alias="r")
    races = TABLES["races"].qualified_name
    return f"SELECT r.race_id, r.year, r.round, r.name, r.date FROM {races} r WHERE {where}", params


def _seasons_without_races(
    table: str, seasons: Sequence[int] | None, kwargs: Mapping[str, Any]
) -> tuple[str, list[Any], list[str]]:
    races = TABLES["races"].qualified_name
    query = (
        "SELECT s.season, count(*) OVER () AS _unexpected "
        "FROM (SELECT UNNEST(?::INTEGER[]) AS season) s "
        f'WHERE NOT EXISTS (SELECT 1 FROM {races} r WHERE r."{SEASON_COLUMN}" = s.season) '
        f"ORDER BY 1 LIMIT {SAMPLE_SIZE}"
    )
    return query, [list(seasons or [])], ["season"]


def _past_races_without_results(
    table: str, seasons: Sequence[int] | None, kwargs: Mapping[str, Any]
) -> tuple[str, list[Any], list[str]]:
    scoped, params = _scoped_races(seasons)
    query = (
        f"SELECT r.*, count(*) OVER () AS _unexpected FROM ({scoped}) r "
        "WHERE r.date <= ? AND NOT EXISTS "
        f"(SELECT 1 FROM {TABLES[table].qualified_name} c WHERE c.race_id = r.race_id) "
        f"ORDER BY r.year, r.round LIMIT {SAMPLE_SIZE}"
    )
    return query, [*params, kwargs["held_before"]], ["race_id"]


def _races_without_standings(
    table: str, seasons: Sequence[int] | None, kwargs: Mapping[str, Any]
) -> tuple[str, list[Any], list[str]]:
    scoped, params = _scoped_races(seasons)
    results = TABLES["results"].qualified_name
    query = (
        f"SELECT r.*, count(*) OVER () AS _unexpected FROM ({scoped}) r "
        f"WHERE r.year >= ? AND EXISTS (SELECT 1 FROM {results} x WHERE x.race_id = r.race_id) "
        f"AND NOT EXISTS (SELECT 1 FROM {TABLES[table].qualified_name} c "
        "WHERE c.race_id = r.race_id) "
        f"ORDER BY r.year, r.round LIMIT {SAMPLE_SIZE}"
    )
    return query, [*params, kwargs["first_season"]], ["race_id"]


def _races_with_missing_laps(
    table: str, seasons: Sequence[int] | None, kwargs: Mapping[str, Any]
) -> tuple[str, list[Any], list[str]]:
    where, params = season_filter(seasons, alias="l")
    laps, results = TABLES[table].qualified_name, TABLES["results"].qualified_name
    query = (
        "WITH lap_rows AS ("
        f"SELECT l.race_id, count(*) AS lap_rows FROM {laps} l WHERE {where} GROUP BY 1), "
        "raced AS ("
        f"SELECT race_id, sum(laps) AS laps_in_results FROM {results} GROUP BY 1) "
        "SELECT lap_rows.race_id, lap_rows.lap_rows, raced.laps_in_results, "
        "round(lap_rows.lap_rows / raced.laps_in_results, 3) AS coverage, "
        "count(*) OVER () AS _unexpected "
        "FROM lap_rows JOIN raced USING (race_id) "
        "WHERE lap_rows.lap_rows < ? * raced.laps_in_results "
        f"ORDER BY coverage, race_id LIMIT {SAMPLE_SIZE}"
    )
    return query, [*params, kwargs["min_ratio"]], ["race_id"]


def _pit_stops_off_the_race(
    table: str, seasons: Sequence[int] | None, kwargs: Mapping[str, Any]
) -> tuple[str, list[Any], list[str]]:
    where, params = season_filter(seasons, alias="p")
    stops, results = TABLES[table].qualified_name, TABLES["results"].qualified_name
    # Race distance, not the driver's own laps: the real data has stops by a car whose result
    # records 0 laps (2024 race 1141, driver 807).
    query = (
        "SELECT p.race_id, p.driver_id, p.stop, p.lap, d.race_laps, "
        "count(*) OVER () AS _unexpected "
        f"FROM {stops} p "
        f"LEFT JOIN (SELECT race_id, max(laps) AS race_laps FROM {results} GROUP BY 1) d "
        "USING (race_id) "
        f"WHERE {where} AND (d.race_laps IS NULL OR p.lap > d.race_laps OR NOT EXISTS "
        f"(SELECT 1 FROM {results} x WHERE x.race_id = p.race_id AND x.driver_id = p.driver_id)) "
        f"ORDER BY p.race_id, p.driver_id, p.stop LIMIT {SAMPLE_SIZE}"
    )
    return query, params, ["race_id", "driver_id"]


_COMPLETENESS_QUERIES = {
    "expect_every_season_to_have_races": _seasons_without_races,
    "expect_every_past_race_to_have_results": _past_races_without_results,
    "expect_every_race_with_results_to_have_standings": _races_without_standings,
    "expect_lap_rows_to_cover_the_laps_raced": _races_with_missing_laps,
    "expect_pit_stops_on_laps_raced": _pit_stops_off_the_race,
}
_COMPLETENESS_NEEDS = {
    "expect_every_season_to_have_races": ("races",),
    "expect_every_past_race_to_have_results": ("races", "results"),
    "expect_every_race_with_results_to_have_standings": ("races", "results"),
    "expect_lap_rows_to_cover_the_laps_raced": ("results",),
    "expect_pit_stops_on_laps_raced": ("results",),
}
