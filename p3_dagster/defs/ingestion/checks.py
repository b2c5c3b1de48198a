"""Blocking asset checks on the raw Ergast tables: a GX suite plus warehouse queries per table."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from p3_common.ergast import TABLES
from p3_ingest.quality import (
    WHOLE_TABLE,
    Baseline,
    CheckGroup,
    ValidationReport,
    check_name,
    failures_markdown,
    groups_for,
    latest_load_seasons,
    loaded_seasons_between,
    results_markdown,
    rules_for,
    validate_table,
)
from p3_ingest.quality.sql_checks import table_exists

from ...lib.resources import WarehouseResource
from .assets import ROW_DROP_ACCEPTED, raw_asset_key

# Every group guards dbt and the marts, so all are blocking with ERROR severity; an advisory
# group would map to WARN here (WARN failures never block downstream steps).
SEVERITY: dict[CheckGroup, dg.AssetCheckSeverity] = {
    group: dg.AssetCheckSeverity.ERROR for group in CheckGroup
}

_PURPOSE: dict[CheckGroup, str] = {
    CheckGroup.COLUMNS: (
        "The table has exactly the contract's columns plus the lineage columns, in order, with the "
        "contract's DuckDB types and NOT NULL constraints, and required columns hold no nulls."
    ),
    CheckGroup.KEYS: (
        "The natural key is never null and is unique in the seasons just loaded and across the "
        "whole table."
    ),
    CheckGroup.VALUES: "Values lie within plausible bounds, match their formats and categories.",
    CheckGroup.REFERENCES: (
        "Every id exists in its parent raw table (DuckDB anti-join), and every race_id is a race "
        "of the season partition the row was loaded into."
    ),
    CheckGroup.ROW_COUNT: (
        "No season (or, for a reference table, the table) holds fewer than half the rows of its "
        "previous load. The baseline is the `rows_by_season` (or `dagster/row_count`) metadata "
        "of the partition's previous materialisation. Loads are validated before they commit, "
        "so a baseline is always a load that passed; a deliberate shrink is loaded with the run "
        "config `accept_row_drop: true` and becomes the new baseline."
    ),
    CheckGroup.COMPLETENESS: (
        "The rows agree with the related tables, so partial data that every row-level rule "
        "accepts is caught: a loaded season has races, a race in the past has results, lap rows "
        "cover the laps the results record, pit stops fall on laps the race had, and every race "
        "with results has standings."
    ),
}


def build_raw_checks(raw_assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """One multi-check per raw Ergast asset among ``raw_assets``: several named, blocking checks."""
    tables_by_key = {raw_asset_key(name): name for name in TABLES}
    return [
        build_table_checks(tables_by_key[key])
        for assets_def in raw_assets
        for key in assets_def.keys
        if key in tables_by_key
    ]


def build_table_checks(table: str) -> dg.AssetChecksDefinition:
    """The checks of one raw table, evaluated together in one step from one read of the rows.

    The checks are not partitioned: Dagster 1.13 records a range run's check evaluation without a
    partition, so per-season check status would mislead. The step reads the run's partition keys
    instead and validates every season the run loaded.
    """
    spec = TABLES[table]
    asset_key = raw_asset_key(table)
    groups = groups_for(table)
    specs = [
        dg.AssetCheckSpec(
            check_name(table, group),
            asset=asset_key,
            blocking=True,
            description=describe_check(table, group),
        )
        for group in groups
    ]

    @dg.multi_asset_check(
        name=f"{spec.raw_table}_checks",
        specs=specs,
        can_subset=True,
        # Opening the warehouse file conflicts with a writer in another process.
        pool="duckdb_write",
        description=(
            f"Validates {spec.qualified_name} after each load: a GX expectation suite on the "
            "seasons just loaded plus DuckDB queries for types, whole-table keys, references and "
            "row counts."
        ),
    )
    def _raw_table_checks(
        context: dg.AssetCheckExecutionContext, duckdb: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        """Validate the rows the load just wrote; a failed check blocks everything downstream."""
        with duckdb.get_connection() as con:
            seasons = _seasons_to_validate(context, con, table)
            previous = previous_row_counts(context.instance, asset_key, table, seasons)
            report = validate_table(con, table, seasons=seasons, previous_rows=previous)
        context.log.info(
            f"validated {report.rows_validated:,} rows of {spec.qualified_name} "
            f"({_scope(report)}) in {report.elapsed_seconds:.2f}s: "
            f"{len(report.failures)} of {len(report.results)} expectations failed"
        )
        for group in groups:
            key = dg.AssetCheckKey(asset_key, check_name(table, group))
            if key in context.selected_asset_check_keys:
                yield check_result(report, group, key)

    return _raw_table_checks


def describe_check(table: str, group: CheckGroup) -> str:
    """The check's UI description: its purpose and every expectation it evaluates."""
    rules = [r for r in rules_for(table) if r.group is group]
    listed = "\n".join(f"- {rule.name}" for rule in rules)
    return f"{_PURPOSE[group]}\n\nExpectations on `{TABLES[table].qualified_name}`:\n{listed}"


def check_result(
    report: ValidationReport, group: CheckGroup, key: dg.AssetCheckKey
) -> dg.AssetCheckResult:
    """The Dagster result of one group: pass/fail, counts, and markdown of failures and samples."""
    results = report.group(group)
    counts = report.counts(group)
    failed = [r.name for r in results if not r.success]
    summary = (
        f"{len(failed)} of {len(results)} expectations failed: {'; '.join(failed)}"
        if failed
        else f"all {len(results)} expectations held on {report.rows_validated:,} rows"
    )
    metadata: dict[str, Any] = {
        "seasons": dg.MetadataValue.text(_scope(report)),
        **{name: dg.MetadataValue.int(value) for name, value in counts.items()},
        "failed": dg.MetadataValue.text("; ".join(failed) or "none"),
        "expectations_evaluated": dg.MetadataValue.md(results_markdown(results)),
        "offending_rows": dg.MetadataValue.md(failures_markdown(results)),
        "validation_seconds": dg.MetadataValue.float(round(report.elapsed_seconds, 3)),
    }
    observed = [r.observed for r in results if r.observed and group is CheckGroup.ROW_COUNT]
    if observed:
        metadata["row_count_comparison"] = dg.MetadataValue.text(observed[0])
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=not failed,
        severity=SEVERITY[group],
        description=summary,
        metadata=metadata,
    )


def previous_row_counts(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    table: str,
    seasons: Sequence[int] | None,
) -> dict[str, Baseline]:
    """Each partition's row count at its previous load, read from materialisation metadata.

    The latest materialisation of a partition is the load under validation (this run's, or the
    last one when the check runs alone); the one before it is the baseline. Raw assets record
    ``rows_by_season`` for season tables and ``dagster/row_count`` for reference tables.
    """
    if not TABLES[table].season_scoped:
        records = instance.fetch_materializations(asset_key, limit=2).records
        if records and _metadata(records[0], ROW_DROP_ACCEPTED):
            return {}
        rows = _metadata(records[1], "dagster/row_count") if len(records) > 1 else None
        return {WHOLE_TABLE: Baseline(int(rows), records[1].run_id)} if rows is not None else {}
    if not seasons:
        return {}
    baselines = {}
    for partition, records in _latest_two(instance, asset_key, [str(s) for s in seasons]).items():
        if len(records) < 2 or _metadata(records[0], ROW_DROP_ACCEPTED):
            continue
        by_season = _metadata(records[1], "rows_by_season") or {}
        if partition in by_season:
            baselines[partition] = Baseline(int(by_season[partition]), records[1].run_id)
    return baselines


def _latest_two(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, list[Any]]:
    # Newest first over all requested partitions at once; a single-run backfill writes one event
    # per partition, so a page or two covers the last two loads of every season.
    found: dict[str, list[Any]] = {p: [] for p in partitions}
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions),
            limit=1000,
            cursor=cursor,
        )
        for record in page.records:
            if record.partition_key in found and len(found[record.partition_key]) < 2:
                found[record.partition_key].append(record)
        if not page.has_more or all(len(r) == 2 for r in found.values()):
            return found
        cursor = page.cursor


def _metadata(record: Any, name: str) -> Any:
    materialization = record.asset_materialization
    value = materialization.metadata.get(name) if materialization else None
    return None if value is None else value.value


def _seasons_to_validate(
    context: dg.AssetCheckExecutionContext, con: Any, table: str
) -> list[int] | None:
    if not TABLES[table].season_scoped or not table_exists(con, table):
        return None
    if context.has_partition_key or context.has_partition_key_range:
        # The run's season range (from its tags: the check step itself has no partitions when
        # the checks run alone), narrowed to the seasons the table holds.
        span = context.partition_key_range
        return loaded_seasons_between(con, table, int(span.start), int(span.end))
    # Launched on its own, outside a partitioned run: validate what the latest load wrote.
    return latest_load_seasons(con, table)


def _scope(report: ValidationReport) -> str:
    seasons = report.seasons
    if seasons is None:
        return "whole table"
    if not seasons:
        return "no seasons"
    return str(seasons[0]) if len(seasons) == 1 else f"{seasons[0]}-{seasons[-1]} ({len(seasons)})"


def check_names() -> list[str]:
    """Every check name the raw checks define, for docs and tests."""
    return [check_name(table, group) for table in TABLES for group in groups_for(table)]
