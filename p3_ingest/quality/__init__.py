"""Ingestion-boundary data quality: GX suites and warehouse queries over the raw Ergast tables."""

from .gate import LoadRejected, committed_baseline, validate_before_commit
from .report import ExpectationResult, ValidationReport, failures_markdown, results_markdown
from .rules import MIN_ROW_RATIO, CheckGroup, Engine, Rule, check_name, groups_for, rules_for
from .sql_checks import (
    WHOLE_TABLE,
    Baseline,
    latest_load_seasons,
    loaded_seasons_between,
    row_counts,
)
from .validate import validate_table

__all__ = [
    "MIN_ROW_RATIO",
    "WHOLE_TABLE",
    "Baseline",
    "CheckGroup",
    "Engine",
    "ExpectationResult",
    "LoadRejected",
    "Rule",
    "ValidationReport",
    "check_name",
    "committed_baseline",
    "failures_markdown",
    "groups_for",
    "latest_load_seasons",
    "loaded_seasons_between",
    "results_markdown",
    "row_counts",
    "rules_for",
    "validate_before_commit",
    "validate_table",
]
