"""Validate a load before it replaces anything: the blocking rules run inside the load's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from p3_common.ergast import TABLES

from ..warehouse import BeforeCommit
from .report import ValidationReport
from .rules import check_name
from .sql_checks import Baseline, row_counts, table_exists
from .validate import validate_table

_LISTED_FAILURES = 3


class LoadRejected(Exception):
    """A load broke blocking rules and was rolled back: the raw table keeps its previous rows."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(rejection_message(report))


def rejection_message(report: ValidationReport) -> str:
    """One line: the table, the seasons, each failed check with its rule and offending count."""
    spec = TABLES[report.table]
    failures = report.failures
    listed = "; ".join(
        f"{check_name(report.table, f.group)}: {f.name} "
        + (f"({f.error})" if f.error else f"({f.unexpected_count:,} offending)")
        for f in failures[:_LISTED_FAILURES]
    )
    more = (
        f"; and {len(failures) - _LISTED_FAILURES} more" if len(failures) > _LISTED_FAILURES else ""
    )
    seasons = report.seasons
    scope = "" if seasons is None else f" for season(s) {_span(seasons)}"
    return (
        f"rejected the load of {spec.qualified_name}{scope}: {listed}{more}; "
        "nothing was replaced, the table keeps its last accepted rows"
    )


def committed_baseline(
    con: duckdb.DuckDBPyConnection, table: str, seasons: Sequence[int] | None
) -> dict[str, Baseline]:
    """Row counts the table holds now, per season (or whole table): the last load that passed.

    Every committed load passed the blocking rules, so what the table holds is the baseline a new
    load is compared with; a rejected load never becomes one. Empty partitions give no baseline.
    """
    if not table_exists(con, table):
        return {}
    counts = row_counts(
        con, table, None if not TABLES[table].season_scoped else list(seasons or [])
    )
    return {partition: Baseline(rows) for partition, rows in counts.items() if rows > 0}


def validate_before_commit(
    table: str, seasons: Sequence[int] | None, baseline: dict[str, Baseline]
) -> BeforeCommit:
    """A ``before_commit`` hook for the loader: validate the rows as they would be committed,
    and raise ``LoadRejected`` (rolling the load back) if any blocking rule fails."""

    def gate(con: duckdb.DuckDBPyConnection) -> None:
        report = validate_table(con, table, seasons=seasons, previous_rows=baseline)
        if not report.passed:
            raise LoadRejected(report)

    return gate


def _span(seasons: Sequence[int]) -> str:
    if not seasons:
        return "none"
    return str(seasons[0]) if len(seasons) == 1 else f"{seasons[0]}-{seasons[-1]}"
