"""The Ergast table contract: every source yields these tables, columns and types, and raw.* holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical column types of the contract; each maps to one Arrow type and one DuckDB type."""

    INTEGER = "integer"  # 32-bit: ids, positions, laps, years
    BIGINT = "bigint"  # 64-bit: cumulative race milliseconds
    DOUBLE = "double"  # points, coordinates, speeds
    VARCHAR = "varchar"  # refs, names, display time strings ("1:38.109", "+5.478")
    DATE = "date"  # YYYY-MM-DD
    TIME = "time"  # HH:MM:SS time of day (race start UTC, pit stop local time)


@dataclass(frozen=True)
class Column:
    """One contract column: snake_case name, logical type and whether nulls are allowed."""

    name: str
    type: ColumnType
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """One Ergast table: its columns in order, its natural key and whether it is partitioned by season."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    season_scoped: bool
    description: str
    # Source columns that some editions carry and we deliberately drop (not schema drift).
    ignored_source_columns: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def raw_table(self) -> str:
        """Unqualified warehouse table name, e.g. ``ergast__results``."""
        return f"ergast__{self.name}"

    @property
    def qualified_name(self) -> str:
        """Schema-qualified warehouse table name, e.g. ``raw.ergast__results``."""
        return f"{RAW_SCHEMA}.{self.raw_table}"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")


# The scoring of the 2019-2024 championships: points by finishing position in a Grand Prix and in
# a sprint. The demo championship scores with it; the marts' "modern points" (dbt seed
# modern_scoring.csv, held equal to it by a test) and the ML features rescore every era with it.
RACE_POINTS: tuple[int, ...] = (25, 18, 15, 12, 10, 8, 6, 4, 2, 1)
SPRINT_POINTS: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 1)

RAW_SCHEMA = "raw"

# Lineage columns added by the loader to every raw row; sources never produce them.
SOURCE_COLUMN = "_source"
SEASON_COLUMN = "_season"  # season partition of a race-scoped row; absent on reference tables
LOADED_AT_COLUMN = "_loaded_at"
RUN_ID_COLUMN = "_run_id"

INT, BIG, DBL, STR, DAY, CLOCK = (
    ColumnType.INTEGER,
    ColumnType.BIGINT,
    ColumnType.DOUBLE,
    ColumnType.VARCHAR,
    ColumnType.DATE,
    ColumnType.TIME,
)


def _cols(*specs: tuple[str, ColumnType] | tuple[str, ColumnType, bool]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_RESULT_COLUMNS = (
    ("result_id", INT, False),
    ("race_id", INT, False),
    ("driver_id", INT, False),
    ("constructor_id", INT, False),
    ("number", INT),
    ("grid", INT, False),
    ("position", INT),
    ("position_text", STR, False),
    ("position_order", INT, False),
    ("points", DBL, False),
    ("laps", INT, False),
    ("time", STR),
    ("milliseconds", BIG),
    ("fastest_lap", INT),
)

_SESSION_COLUMNS = tuple(
    (f"{session}_{part}", DAY if part == "date" else CLOCK)
    for session in ("fp1", "fp2", "fp3", "quali", "sprint")
    for part in ("date", "time")
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "circuits",
            _cols(
                ("circuit_id", INT, False),
                ("circuit_ref", STR, False),
                ("name", STR, False),
                ("location", STR),
                ("country", STR),
                ("lat", DBL),
                ("lng", DBL),
                ("alt", INT),
                ("url", STR),
            ),
            key=("circuit_id",),
            season_scoped=False,
            description="Every circuit that has hosted a championship race.",
        ),
        TableSpec(
            "constructors",
            _cols(
                ("constructor_id", INT, False),
                ("constructor_ref", STR, False),
                ("name", STR, False),
                ("nationality", STR),
                ("url", STR),
            ),
            key=("constructor_id",),
            season_scoped=False,
            description="Every constructor (team) that has entered a championship race.",
        ),
        TableSpec(
            "drivers",
            _cols(
                ("driver_id", INT, False),
                ("driver_ref", STR, False),
                ("number", INT),
                ("code", STR),
                ("forename", STR, False),
                ("surname", STR, False),
                ("dob", DAY),
                ("nationality", STR),
                ("url", STR),
            ),
            key=("driver_id",),
            season_scoped=False,
            description="Every driver who has entered a championship race.",
        ),
        TableSpec(
            "seasons",
            _cols(("year", INT, False), ("url", STR)),
            key=("year",),
            season_scoped=False,
            description="Championship seasons.",
        ),
        TableSpec(
            "status",
            _cols(("status_id", INT, False), ("status", STR, False)),
            key=("status_id",),
            season_scoped=False,
            description="Finishing status codes (Finished, +1 Lap, Engine, Accident, ...).",
        ),
        TableSpec(
            "races",
            _cols(
                ("race_id", INT, False),
                ("year", INT, False),
                ("round", INT, False),
                ("circuit_id", INT, False),
                ("name", STR, False),
                ("date", DAY, False),
                ("time", CLOCK),
                ("url", STR),
                *_SESSION_COLUMNS,
            ),
            key=("race_id",),
            season_scoped=True,
            description="The race calendar: one row per championship Grand Prix.",
        ),
        TableSpec(
            "results",
            _cols(
                *_RESULT_COLUMNS,
                ("rank", INT),
                ("fastest_lap_time", STR),
                ("fastest_lap_speed", DBL),
                ("status_id", INT, False),
            ),
            key=("result_id",),
            season_scoped=True,
            description="Race classification: one row per car entry (shared drives give two rows).",
        ),
        TableSpec(
            "sprint_results",
            _cols(*_RESULT_COLUMNS, ("fastest_lap_time", STR), ("status_id", INT, False)),
            key=("result_id",),
            season_scoped=True,
            description="Sprint classification (2021 on): one row per car entry.",
            ignored_source_columns=("rank",),
        ),
        TableSpec(
            "qualifying",
            _cols(
                ("qualify_id", INT, False),
                ("race_id", INT, False),
                ("driver_id", INT, False),
                ("constructor_id", INT, False),
                ("number", INT),
                ("position", INT),
                ("q1", STR),
                ("q2", STR),
                ("q3", STR),
            ),
            key=("qualify_id",),
            season_scoped=True,
            description="Qualifying classification (1994 on) with Q1/Q2/Q3 lap times.",
        ),
        TableSpec(
            "lap_times",
            _cols(
                ("race_id", INT, False),
                ("driver_id", INT, False),
                ("lap", INT, False),
                ("position", INT),
                ("time", STR),
                ("milliseconds", BIG, False),
            ),
            key=("race_id", "driver_id", "lap"),
            season_scoped=True,
            description="Lap-by-lap times (1996 on): one row per driver per lap.",
        ),
        TableSpec(
            "pit_stops",
            _cols(
                ("race_id", INT, False),
                ("driver_id", INT, False),
                ("stop", INT, False),
                ("lap", INT, False),
                ("time", CLOCK),
                ("duration", STR),
                ("milliseconds", BIG),
            ),
            key=("race_id", "driver_id", "stop"),
            season_scoped=True,
            description="Pit stops (2011 on): one row per stop, with its duration.",
        ),
        TableSpec(
            "driver_standings",
            _cols(
                ("driver_standings_id", INT, False),
                ("race_id", INT, False),
                ("driver_id", INT, False),
                ("points", DBL, False),
                ("position", INT),
                ("position_text", STR),
                ("wins", INT, False),
            ),
            key=("driver_standings_id",),
            season_scoped=True,
            description="Drivers' championship standings after each race (cumulative).",
        ),
        TableSpec(
            "constructor_standings",
            _cols(
                ("constructor_standings_id", INT, False),
                ("race_id", INT, False),
                ("constructor_id", INT, False),
                ("points", DBL, False),
                ("position", INT),
                ("position_text", STR),
                ("wins", INT, False),
            ),
            key=("constructor_standings_id",),
            season_scoped=True,
            description="Constructors' championship standings after each race (1958 on, cumulative).",
        ),
        TableSpec(
            "constructor_results",
            _cols(
                ("constructor_results_id", INT, False),
                ("race_id", INT, False),
                ("constructor_id", INT, False),
                ("points", DBL),
                ("status", STR),
            ),
            key=("constructor_results_id",),
            season_scoped=True,
            description="Constructor points per race (1958 on).",
        ),
    )
}

REFERENCE_TABLES: tuple[str, ...] = tuple(n for n, s in TABLES.items() if not s.season_scoped)
SEASON_TABLES: tuple[str, ...] = tuple(n for n, s in TABLES.items() if s.season_scoped)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(name: str) -> str:
    """Ergast camelCase column name to the contract's snake_case: ``positionText`` -> ``position_text``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()
