"""Validate one raw table: GX on the rows just loaded, DuckDB for types, keys, references, counts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import date

import duckdb

from p3_common.ergast import SEASON_COLUMN, TABLES

from .report import ExpectationResult, ValidationReport
from .rules import MIN_ROW_RATIO, CheckGroup, Engine, Rule, rules_for
from .sql_checks import (
    Baseline,
    check_column_types,
    check_completeness,
    check_key_unique_across_table,
    check_parent_exists,
    check_race_season,
    check_row_counts,
    read_rows,
    row_counts,
    table_exists,
)


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    seasons: Sequence[int] | None = None,
    previous_rows: Mapping[str, Baseline] | None = None,
    min_row_ratio: float = MIN_ROW_RATIO,
    today: date | None = None,
) -> ValidationReport:
    """Evaluate every rule of ``table`` on the warehouse and return one plain report.

    ``seasons`` limits the row-level rules to the seasons just loaded (race-scoped tables);
    None validates the whole table. Key uniqueness is also checked across the whole table.
    ``previous_rows`` holds each partition's row count at its previous load (keyed by season,
    or ``WHOLE_TABLE``), for the row-count guard; without it the guard has nothing to compare.
    """
    started = time.perf_counter()
    spec = TABLES[table]
    if seasons is not None and not spec.season_scoped:
        raise ValueError(f"{table!r} is a reference table: validate it whole (seasons=None)")
    scope = None if seasons is None else tuple(sorted(set(seasons)))
    rules = rules_for(table, today=today, min_row_ratio=min_row_ratio)
    if not table_exists(con, table):
        missing = f"{spec.qualified_name} does not exist: the table was never loaded"
        results = tuple(ExpectationResult(rule, success=False, error=missing) for rule in rules)
        return ValidationReport(table, scope, 0, results, time.perf_counter() - started)

    frame = read_rows(con, table, scope)
    present = set(frame.columns)

    def sample_columns(rule: Rule) -> list[str]:
        lineage = [SEASON_COLUMN] if spec.season_scoped else []
        wanted = dict.fromkeys([*spec.key, *rule.columns, *lineage])
        return [c for c in wanted if c in present]

    # GX takes ~3 s to import; importing it here keeps it out of loading the code location.
    from .expectations import validate_frame

    gx_results = iter(
        validate_frame(frame, rules, name=spec.raw_table, sample_columns=sample_columns)
    )
    evaluated = tuple(
        next(gx_results)
        if rule.engine is Engine.GX
        else _run_sql_rule(con, rule, table, scope, sample_columns(rule), previous_rows)
        for rule in rules
    )
    return ValidationReport(table, scope, len(frame), evaluated, time.perf_counter() - started)


def _run_sql_rule(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    table: str,
    seasons: tuple[int, ...] | None,
    sample_columns: list[str],
    previous_rows: Mapping[str, Baseline] | None,
) -> ExpectationResult:
    try:
        match rule.expectation:
            case "expect_column_types_to_match_the_contract":
                return check_column_types(con, rule, table)
            case "expect_key_to_be_unique_across_the_table":
                return check_key_unique_across_table(con, rule, table)
            case "expect_column_values_to_exist_in_parent_table":
                return check_parent_exists(con, rule, table, seasons, sample_columns)
            case "expect_race_to_belong_to_the_row_season":
                return check_race_season(con, rule, table, seasons, sample_columns)
            case "expect_row_count_not_to_drop_sharply":
                return check_row_counts(rule, row_counts(con, table, seasons), previous_rows)
            case _ if rule.group is CheckGroup.COMPLETENESS:
                return check_completeness(con, rule, table, seasons)
    except duckdb.Error as exc:
        # A drifted table (say, a dropped column) must fail the rule, not crash the check.
        return ExpectationResult(rule, success=False, error=f"{type(exc).__name__}: {exc}")
    raise ValueError(f"no warehouse query implements {rule.expectation!r}")
