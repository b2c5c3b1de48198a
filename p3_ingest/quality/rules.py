"""What must hold in each raw Ergast table, as plain data: the rules the ingestion checks evaluate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, get_args

from p3_common.ergast import RUN_ID_COLUMN, SEASON_COLUMN, SOURCE_COLUMN, TABLES
from p3_common.settings import FIRST_SEASON, SourceKind

from ..sources.schema import DUCKDB_TYPES
from ..warehouse import lineage_columns


class CheckGroup(StrEnum):
    """The property a group of rules establishes; each group is one Dagster asset check."""

    COLUMNS = "columns_match_the_contract"
    KEYS = "keys_are_unique_and_present"
    VALUES = "values_are_in_range"
    REFERENCES = "ids_exist_in_parent_tables"
    ROW_COUNT = "row_count_did_not_drop_sharply"
    COMPLETENESS = "is_complete"


class Engine(StrEnum):
    """What evaluates a rule: a GX expectation on the DataFrame, or a query on the warehouse."""

    GX = "great_expectations"
    # Column types, cross-table and whole-table properties: GX has no cross-table expectation, and
    # its pandas type expectations do not recognise the nullable dtypes DuckDB's .df() yields.
    DUCKDB = "duckdb"


@dataclass(frozen=True)
class Rule:
    """One expectation: the group it belongs to, what must hold in words, and how it is checked.

    ``expectation`` is a GX expectation type (``expect_column_values_to_be_between``) for GX rules,
    or the name of a warehouse query for DuckDB rules; ``kwargs`` are that expectation's arguments.
    """

    group: CheckGroup
    name: str
    expectation: str
    engine: Engine = Engine.GX
    columns: tuple[str, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of a child table references the same-named key column of ``parent``."""

    column: str
    parent: str


# A race this many days old has results in every source (the API posts them within hours).
RESULTS_GRACE_DAYS = 3
# Lap rows may fall a little short of the laps a race's results record: the real history has
# races with a few laps missing per driver (worst 1996-2020 race: 98.9%), never a driver's whole race.
MIN_LAP_COVERAGE = 0.98
FIRST_CONSTRUCTORS_CHAMPIONSHIP = 1958

# A load may replace a season's rows with far fewer only if something went wrong upstream: F1
# history does not shrink, and the API source only adds rounds to the current season.
MIN_ROW_RATIO = 0.5

SOURCES: tuple[str, ...] = get_args(SourceKind)
# Digits for classified finishers; R retired, D disqualified, E excluded, W withdrawn,
# F failed to qualify, N not classified (README of the Ergast data).
POSITION_TEXT = r"^(?:[0-9]+|[RDEWFN])$"
LAP_CLOCK = r"^[0-9]{1,2}:[0-9]{2}\.[0-9]{3}$"  # "1:38.109"
# Red-flag laps of an hour or more are written "h:mm:ss.sss" (2011 Canada: "2:05:05.152").
LONG_LAP_CLOCK = r"^(?:[0-9]+:)?[0-9]{1,2}:[0-9]{2}\.[0-9]{3}$"
DRIVER_CODE = r"^[A-Z]{3}$"

MAX_CARS = 40  # grid slots and positions; the real maximum is 34 (1953 Indianapolis 500)
MAX_LAPS = 250  # the 1950s Indianapolis 500 counted for the championship: 200 laps
SECOND = 1_000
HOUR = 3_600 * SECOND

FOREIGN_KEYS: dict[str, tuple[ForeignKey, ...]] = {
    "races": (ForeignKey("circuit_id", "circuits"), ForeignKey("year", "seasons")),
    "results": (
        ForeignKey("race_id", "races"),
        ForeignKey("driver_id", "drivers"),
        ForeignKey("constructor_id", "constructors"),
        ForeignKey("status_id", "status"),
    ),
    "sprint_results": (
        ForeignKey("race_id", "races"),
        ForeignKey("driver_id", "drivers"),
        ForeignKey("constructor_id", "constructors"),
        ForeignKey("status_id", "status"),
    ),
    "qualifying": (
        ForeignKey("race_id", "races"),
        ForeignKey("driver_id", "drivers"),
        ForeignKey("constructor_id", "constructors"),
    ),
    "lap_times": (ForeignKey("race_id", "races"), ForeignKey("driver_id", "drivers")),
    "pit_stops": (ForeignKey("race_id", "races"), ForeignKey("driver_id", "drivers")),
    "driver_standings": (ForeignKey("race_id", "races"), ForeignKey("driver_id", "drivers")),
    "constructor_standings": (
        ForeignKey("race_id", "races"),
        ForeignKey("constructor_id", "constructors"),
    ),
    "constructor_results": (
        ForeignKey("race_id", "races"),
        ForeignKey("constructor_id", "constructors"),
    ),
}

Bound = float | datetime | None


def _ranges(table: str, last_season: int, today: date) -> tuple[tuple[str, Bound, Bound], ...]:
    """(column, min, max) of every bounded column; bounds pass the full 1950-2024 history."""
    seasons = (FIRST_SEASON, last_season)
    race_result = (
        ("number", 0, 999),  # car numbers reached 208 at 1950s Indianapolis
        ("grid", 0, MAX_CARS),  # 0 = pit-lane start
        ("position", 1, MAX_CARS),
        ("position_order", 1, None),
        ("points", 0, 100),  # 50 at most (2014 double points)
        ("laps", 0, MAX_LAPS),
        ("milliseconds", 0, 8 * HOUR),  # cumulative race time; 4h04 at 2011 Canada
        ("fastest_lap", 1, MAX_LAPS),
    )
    standings = (("points", 0, None), ("wins", 0, 30))
    ranges: dict[str, tuple[tuple[str, Bound, Bound], ...]] = {
        "circuits": (("lat", -90, 90), ("lng", -180, 180), ("alt", -500, 5_000)),
        "drivers": (
            ("number", 0, 99),  # permanent numbers (2014 on)
            ("dob", datetime(1880, 1, 1), datetime.combine(today, datetime.min.time())),
        ),
        "seasons": (("year", *seasons),),
        "races": (
            ("year", *seasons),
            ("round", 1, 30),
            ("date", datetime(FIRST_SEASON, 1, 1), datetime(last_season, 12, 31)),
        ),
        "results": (*race_result, ("rank", 0, MAX_CARS), ("fastest_lap_speed", 50, 450)),
        "sprint_results": race_result,
        "qualifying": (("number", 0, 999), ("position", 1, MAX_CARS)),
        "lap_times": (
            ("lap", 1, MAX_LAPS),
            ("position", 1, MAX_CARS),
            # Real laps run 55 s to 2h05 (red flag at 2011 Canada); 30 s .. 3 h is plausible.
            ("milliseconds", 30 * SECOND, 3 * HOUR),
        ),
        "pit_stops": (
            ("stop", 1, 100),  # 70 at the 2024 Brazilian GP's red flag
            ("lap", 1, MAX_LAPS),
            # Pit-lane time: 12.9 s real minimum; red-flag stops last up to 51 min in the real
            # data, and a race may not run longer than 3 h including suspensions.
            ("milliseconds", 5 * SECOND, 3 * HOUR),
        ),
        # 108 classified drivers in 1950s seasons that counted Indianapolis.
        "driver_standings": (*standings, ("position", 1, 200)),
        "constructor_standings": (*standings, ("position", 1, 100)),
        "constructor_results": (("points", 0, None),),
    }
    return ranges.get(table, ())


_PATTERNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "drivers": (("code", DRIVER_CODE, "three capital letters"),),
    "results": (
        ("position_text", POSITION_TEXT, "digits or R/D/E/W/F/N"),
        ("fastest_lap_time", LAP_CLOCK, "m:ss.sss"),
    ),
    "sprint_results": (
        ("position_text", POSITION_TEXT, "digits or R/D/E/W/F/N"),
        ("fastest_lap_time", LAP_CLOCK, "m:ss.sss"),
    ),
    "qualifying": tuple((q, LAP_CLOCK, "m:ss.sss") for q in ("q1", "q2", "q3")),
    "lap_times": (("time", LONG_LAP_CLOCK, "m:ss.sss or h:mm:ss.sss"),),
    "driver_standings": (("position_text", POSITION_TEXT, "digits or R/D/E/W/F/N"),),
    "constructor_standings": (("position_text", POSITION_TEXT, "digits or R/D/E/W/F/N"),),
}

# constructor_results.status is null except "D" (disqualified).
_CATEGORIES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "constructor_results": (("status", ("D",)),),
}


def rules_for(
    table: str, *, today: date | None = None, min_row_ratio: float = MIN_ROW_RATIO
) -> list[Rule]:
    """Every rule of ``table``, grouped by the check that evaluates it, in a stable order.

    Seasons and dates may run to next year (``today`` decides which year that is).
    """
    spec = TABLES[table]
    today = today or datetime.now(UTC).date()
    return [
        *_column_rules(table),
        *_key_rules(table),
        *_value_rules(table, last_season=today.year + 1, today=today),
        *_reference_rules(table),
        row_count_rule(spec.season_scoped, min_row_ratio),
        *_completeness_rules(table, today=today),
    ]


def check_name(table: str, group: CheckGroup) -> str:
    """The check's name: the table and the property that must hold, e.g. ``results_keys_are_unique_and_present``."""
    return f"{table}_{group.value}"


def groups_for(table: str) -> list[CheckGroup]:
    """The check groups that apply to ``table`` (reference tables have no foreign keys)."""
    optional = {CheckGroup.REFERENCES: FOREIGN_KEYS, CheckGroup.COMPLETENESS: COMPLETE_TABLES}
    return [g for g in CheckGroup if g not in optional or table in optional[g]]


def expected_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, DuckDB type, nullable) of every column the raw table must have, in order."""
    spec = TABLES[table]
    contract = [(c.name, DUCKDB_TYPES[c.type], c.nullable) for c in spec.columns]
    # The loader makes every lineage column NOT NULL except the run id (warehouse._required).
    lineage = [(name, sql, name == RUN_ID_COLUMN) for name, sql in lineage_columns(spec)]
    return contract + lineage


def _column_rules(table: str) -> list[Rule]:
    columns = expected_columns(table)
    names = [name for name, _, _ in columns]
    key = set(TABLES[table].key)
    return [
        Rule(
            CheckGroup.COLUMNS,
            "the columns are the contract's plus lineage, in order",
            "expect_table_columns_to_match_ordered_list",
            kwargs={"column_list": names},
        ),
        Rule(
            CheckGroup.COLUMNS,
            "column types and NOT NULL constraints match the contract",
            "expect_column_types_to_match_the_contract",
            Engine.DUCKDB,
            columns=tuple(names),
        ),
        *(
            _not_null(CheckGroup.COLUMNS, name)
            for name, _, nullable in columns
            if not nullable and name not in key
        ),
    ]


def _key_rules(table: str) -> list[Rule]:
    key = TABLES[table].key
    label = ", ".join(key)
    shown = label if len(key) == 1 else f"({label})"
    unique = (
        Rule(
            CheckGroup.KEYS,
            f"{shown} is unique in the rows validated",
            "expect_column_values_to_be_unique",
            columns=key,
            kwargs={"column": key[0]},
        )
        if len(key) == 1
        else Rule(
            CheckGroup.KEYS,
            f"{shown} is unique in the rows validated",
            "expect_compound_columns_to_be_unique",
            columns=key,
            kwargs={"column_list": list(key)},
        )
    )
    return [
        *(_not_null(CheckGroup.KEYS, column) for column in key),
        unique,
        Rule(
            CheckGroup.KEYS,
            f"{shown} is unique across the whole table",
            "expect_key_to_be_unique_across_the_table",
            Engine.DUCKDB,
            columns=key,
        ),
    ]


def _value_rules(table: str, *, last_season: int, today: date) -> list[Rule]:
    spec = TABLES[table]
    rules = [
        _between(column, low, high) for column, low, high in _ranges(table, last_season, today)
    ]
    rules += [
        Rule(
            CheckGroup.VALUES,
            f"{column} is {label}",
            "expect_column_values_to_match_regex",
            columns=(column,),
            kwargs={"column": column, "regex": regex},
        )
        for column, regex, label in _PATTERNS.get(table, ())
    ]
    rules += [_in_set(column, values) for column, values in _CATEGORIES.get(table, ())]
    # _source is NOT NULL (columns check); in-set alone would let nulls through (GX pitfall).
    rules.append(_in_set(SOURCE_COLUMN, SOURCES))
    if spec.season_scoped:
        rules.append(_between(SEASON_COLUMN, FIRST_SEASON, last_season))
    if table == "races":
        rules.append(
            Rule(
                CheckGroup.VALUES,
                f"year equals the season partition {SEASON_COLUMN}",
                "expect_column_pair_values_to_be_equal",
                columns=("year", SEASON_COLUMN),
                kwargs={"column_A": "year", "column_B": SEASON_COLUMN},
            )
        )
    return rules


def _reference_rules(table: str) -> list[Rule]:
    rules = [
        Rule(
            CheckGroup.REFERENCES,
            f"every {fk.column} exists in {TABLES[fk.parent].qualified_name}",
            "expect_column_values_to_exist_in_parent_table",
            Engine.DUCKDB,
            columns=(fk.column,),
            kwargs={"parent": fk.parent},
        )
        for fk in FOREIGN_KEYS.get(table, ())
    ]
    if any(fk.column == "race_id" for fk in FOREIGN_KEYS.get(table, ())):
        rules.append(
            Rule(
                CheckGroup.REFERENCES,
                f"every race_id is a race of the row's season ({SEASON_COLUMN})",
                "expect_race_to_belong_to_the_row_season",
                Engine.DUCKDB,
                columns=("race_id", SEASON_COLUMN),
            )
        )
    return rules


# Tables whose rows must agree with related tables: partial data that every per-row rule accepts
# (a file cut at a line boundary, a season that lost its results) shows up here.
COMPLETE_TABLES = (
    "races",
    "results",
    "lap_times",
    "pit_stops",
    "driver_standings",
    "constructor_standings",
)


def _completeness_rules(table: str, *, today: date) -> list[Rule]:
    def rule(name: str, expectation: str, **kwargs: Any) -> Rule:
        return Rule(CheckGroup.COMPLETENESS, name, expectation, Engine.DUCKDB, kwargs=kwargs)

    match table:
        case "races":
            return [
                rule(
                    "every season loaded has at least one race", "expect_every_season_to_have_races"
                )
            ]
        case "results":
            return [
                rule(
                    f"every race held {RESULTS_GRACE_DAYS} or more days ago has results",
                    "expect_every_past_race_to_have_results",
                    held_before=today - timedelta(days=RESULTS_GRACE_DAYS),
                )
            ]
        case "lap_times":
            return [
                rule(
                    f"each race with lap times has lap rows for at least {MIN_LAP_COVERAGE:.0%} "
                    "of the laps its results record",
                    "expect_lap_rows_to_cover_the_laps_raced",
                    min_ratio=MIN_LAP_COVERAGE,
                )
            ]
        case "pit_stops":
            return [
                rule(
                    "every pit stop is by a driver with a result in that race, on a lap the race had",
                    "expect_pit_stops_on_laps_raced",
                )
            ]
        case "driver_standings" | "constructor_standings":
            first = FIRST_SEASON if table == "driver_standings" else FIRST_CONSTRUCTORS_CHAMPIONSHIP
            return [
                rule(
                    f"every race with results from {first} on has standings",
                    "expect_every_race_with_results_to_have_standings",
                    first_season=first,
                )
            ]
    return []


def row_count_rule(season_scoped: bool, min_ratio: float = MIN_ROW_RATIO) -> Rule:
    """The guard against a sharp drop: rows now vs the previous load of the same partition."""
    scope = "no season's row count" if season_scoped else "the row count"
    return Rule(
        CheckGroup.ROW_COUNT,
        f"{scope} fell below {min_ratio:.0%} of its previous load",
        "expect_row_count_not_to_drop_sharply",
        Engine.DUCKDB,
        kwargs={"min_ratio": min_ratio},
    )


def _not_null(group: CheckGroup, column: str) -> Rule:
    return Rule(
        group,
        f"{column} is never null",
        "expect_column_values_to_not_be_null",
        columns=(column,),
        kwargs={"column": column},
    )


def _between(column: str, low: Bound, high: Bound) -> Rule:
    # Group digits of millisecond-sized bounds, but not of years: "between 1950 and 2027".
    big = any(isinstance(b, int | float) and abs(b) >= 10_000 for b in (low, high))
    if high is None:
        name = f"{column} >= {_show(low, big)}"
    elif low is None:
        name = f"{column} <= {_show(high, big)}"
    else:
        name = f"{column} between {_show(low, big)} and {_show(high, big)}"
    return Rule(
        CheckGroup.VALUES,
        name,
        "expect_column_values_to_be_between",
        columns=(column,),
        kwargs={"column": column, "min_value": low, "max_value": high},
    )


def _in_set(column: str, values: tuple[str, ...]) -> Rule:
    return Rule(
        CheckGroup.VALUES,
        f"{column} in {{{', '.join(values)}}}",
        "expect_column_values_to_be_in_set",
        columns=(column,),
        kwargs={"column": column, "value_set": list(values)},
    )


def _show(bound: Bound, group_digits: bool) -> str:
    if isinstance(bound, datetime):
        return bound.date().isoformat()
    return f"{bound:,}" if group_digits else str(bound)
