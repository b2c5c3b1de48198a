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


RAW_SCHEMA = "raw"

# Lineage columns added by the loader to every raw row; sources never produce them.
SOURCE_COLUMN = "_source"
SEASON_COLUMN = "_season"  # season partition of a race-scoped row; absent on reference tables
LOADED_AT_COLUMN = "_loaded_at"
RUN_ID_COLUMN = "_run_id"

I, B, D, V, DT, T = (
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
    ("result_id", I, False),
    ("race_id", I, False),
    ("driver_id", I, False),
    ("constructor_id", I, False),
    ("number", I),
    ("grid", I, False),
    ("position", I),
    ("position_text", V, False),
    ("position_order", I, False),
    ("points", D, False),
    ("laps", I, False),
    ("time", V),
    ("milliseconds", B),
    ("fastest_lap", I),
)

_SESSION_COLUMNS = tuple(
    (f"{session}_{part}", DT if part == "date" else T)
    for session in ("fp1", "fp2", "fp3", "quali", "sprint")
    for part in ("date", "time")
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "circuits",
            _cols(
                ("circuit_id", I, False),
                ("circuit_ref", V, False),
                ("name", V, False),
                ("location", V),
                ("country", V),
                ("lat", D),
                ("lng", D),
                ("alt", I),
                ("url", V),
            ),
            key=("circuit_id",),
            season_scoped=False,
            description="Every circuit that has hosted a championship race.",
        ),
        TableSpec(
            "constructors",
            _cols(
                ("constructor_id", I, False),
                ("constructor_ref", V, False),
                ("name", V, False),
                ("nationality", V),
                ("url", V),
            ),
            key=("constructor_id",),
            season_scoped=False,
            description="Every constructor (team) that has entered a championship race.",
        ),
        TableSpec(
            "drivers",
            _cols(
                ("driver_id", I, False),
                ("driver_ref", V, False),
                ("number", I),
                ("code", V),
                ("forename", V, False),
                ("surname", V, False),
                ("dob", DT),
                ("nationality", V),
                ("url", V),
            ),
            key=("driver_id",),
            season_scoped=False,
            description="Every driver who has entered a championship race.",
        ),
        TableSpec(
            "seasons",
            _cols(("year", I, False), ("url", V)),
            key=("year",),
            season_scoped=False,
            description="Championship seasons.",
        ),
        TableSpec(
            "status",
            _cols(("status_id", I, False), ("status", V, False)),
            key=("status_id",),
            season_scoped=False,
            description="Finishing status codes (Finished, +1 Lap, Engine, Accident, ...).",
        ),
        TableSpec(
            "races",
            _cols(
                ("race_id", I, False),
                ("year", I, False),
                ("round", I, False),
                ("circuit_id", I, False),
                ("name", V, False),
                ("date", DT, False),
                ("time", T),
                ("url", V),
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
                ("rank", I),
                ("fastest_lap_time", V),
                ("fastest_lap_speed", D),
                ("status_id", I, False),
            ),
            key=("result_id",),
            season_scoped=True,
            description="Race classification: one row per car entry (shared drives give two rows).",
        ),
        TableSpec(
            "sprint_results",
            _cols(*_RESULT_COLUMNS, ("fastest_lap_time", V), ("status_id", I, False)),
            key=("result_id",),
            season_scoped=True,
            description="Sprint classification (2021 on): one row per car entry.",
            ignored_source_columns=("rank",),
        ),
        TableSpec(
            "qualifying",
            _cols(
                ("qualify_id", I, False),
                ("race_id", I, False),
                ("driver_id", I, False),
                ("constructor_id", I, False),
                ("number", I),
                ("position", I),
                ("q1", V),
                ("q2", V),
                ("q3", V),
            ),
            key=("qualify_id",),
            season_scoped=True,
            description="Qualifying classification (1994 on) with Q1/Q2/Q3 lap times.",
        ),
        TableSpec(
            "lap_times",
            _cols(
                ("race_id", I, False),
                ("driver_id", I, False),
                ("lap", I, False),
                ("position", I),
                ("time", V),
                ("milliseconds", B, False),
            ),
            key=("race_id", "driver_id", "lap"),
            season_scoped=True,
            description="Lap-by-lap times (1996 on): one row per driver per lap.",
        ),
        TableSpec(
            "pit_stops",
            _cols(
                ("race_id", I, False),
                ("driver_id", I, False),
                ("stop", I, False),
                ("lap", I, False),
                ("time", T),
                ("duration", V),
                ("milliseconds", B),
            ),
            key=("race_id", "driver_id", "stop"),
            season_scoped=True,
            description="Pit stops (2011 on): one row per stop, with its duration.",
        ),
        TableSpec(
            "driver_standings",
            _cols(
                ("driver_standings_id", I, False),
                ("race_id", I, False),
                ("driver_id", I, False),
                ("points", D, False),
                ("position", I),
                ("position_text", V),
                ("wins", I, False),
            ),
            key=("driver_standings_id",),
            season_scoped=True,
            description="Drivers' championship standings after each race (cumulative).",
        ),
        TableSpec(
            "constructor_standings",
            _cols(
                ("constructor_standings_id", I, False),
                ("race_id", I, False),
                ("constructor_id", I, False),
                ("points", D, False),
                ("position", I),
                ("position_text", V),
                ("wins", I, False),
            ),
            key=("constructor_standings_id",),
            season_scoped=True,
            description="Constructors' championship standings after each race (1958 on, cumulative).",
        ),
        TableSpec(
            "constructor_results",
            _cols(
                ("constructor_results_id", I, False),
                ("race_id", I, False),
                ("constructor_id", I, False),
                ("points", D),
                ("status", V),
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
