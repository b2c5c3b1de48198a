"""Raw Ergast assets: one per table, ``raw/ergast__<table>``, race-scoped tables partitioned by season."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import warnings

import dagster as dg

from p3_common.ergast import TABLES, TableSpec
from p3_ingest.ingest import ingest_table
from p3_ingest.quality import LoadRejected, failures_markdown
from p3_ingest.warehouse import DuckDBCatalog

from ...lib.metadata import column_schema, load_metadata, source_metadata
from ...lib.resources import ErgastSourceResource, WarehouseResource

# Upstream raw tables whose ids a table references; they give the graph its shape and make an
# incremental source (jolpica) resolve ids against freshly loaded reference tables. Laps, pit
# stops and standings also follow results: their completeness rules compare with the results
# of the same run, not the previous load's.
RAW_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "races": ("circuits", "seasons"),
    "results": ("races", "drivers", "constructors", "status"),
    "sprint_results": ("races", "drivers", "constructors", "status"),
    "qualifying": ("races", "drivers", "constructors"),
    "lap_times": ("races", "drivers", "results"),
    "pit_stops": ("races", "drivers", "results"),
    "driver_standings": ("races", "drivers", "results"),
    "constructor_standings": ("races", "constructors", "results"),
    "constructor_results": ("races", "constructors"),
}

# Network-bound loads (the API) retry transient failures; a bad file would fail the same way again.
API_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


# Materialisation metadata that tells the row-count check a shrink was deliberate.
ROW_DROP_ACCEPTED = "row_drop_accepted"


class RawLoadConfig(dg.Config):
    """Run config of a raw load."""

    accept_row_drop: bool = False
    """Accept a load that shrinks a season (or a reference table) below half its rows: a
    deliberate correction. Off by default: a shrink is rejected and the table keeps its rows."""


def raw_asset_key(table: str) -> dg.AssetKey:
    """``raw/ergast__<table>``: the key of a raw table's asset (schema, table)."""
    return dg.AssetKey(["raw", TABLES[table].raw_table])


def _description(spec: TableSpec) -> str:
    grain = (
        "Partitioned by season: a run replaces exactly its seasons' rows in one transaction."
        if spec.season_scoped
        else "Unpartitioned reference table, replaced whole in one transaction."
    )
    return (
        f"{spec.description}\n\n"
        f"Table `{spec.qualified_name}`, natural key ({', '.join(spec.key)}). {grain} "
        "Loaded from the configured source (P3_SOURCE: demo, dump or jolpica); every row records "
        "`_source`, `_loaded_at` and `_run_id`."
    )


def build_raw_asset(
    spec: TableSpec, partitions: dg.PartitionsDefinition, *, network_bound: bool
) -> dg.AssetsDefinition:
    """The asset that loads one Ergast table into the raw layer."""

    @dg.asset(
        key=raw_asset_key(spec.name),
        description=_description(spec),
        group_name="ingestion",
        kinds={"duckdb", "python"},
        deps=[raw_asset_key(dep) for dep in RAW_DEPENDENCIES.get(spec.name, ())],
        partitions_def=partitions if spec.season_scoped else None,
        backfill_policy=dg.BackfillPolicy.single_run() if spec.season_scoped else None,
        pool="duckdb_write",
        retry_policy=API_RETRY_POLICY if network_bound else None,
        tags={"layer": "raw"},
        # Static, so the UI shows them before any run and range runs do not repeat them per season.
        metadata={
            "dagster/table_name": spec.qualified_name,
            "dagster/column_schema": column_schema(spec.name),
            "natural_key": ", ".join(spec.key),
        },
    )
    def _raw_table(
        context: dg.AssetExecutionContext,
        config: RawLoadConfig,
        duckdb: WarehouseResource,
        ergast: ErgastSourceResource,
    ) -> dg.MaterializeResult:
        seasons = [int(key) for key in context.partition_keys] if spec.season_scoped else []
        with duckdb.get_connection() as con, ergast.open(DuckDBCatalog(con)) as source:
            try:
                result = ingest_table(
                    con,
                    source,
                    spec.name,
                    run_id=context.run.run_id,
                    seasons=seasons,
                    accept_row_drop=config.accept_row_drop,
                )
            except LoadRejected as rejected:
                raise rejection_failure(rejected) from None
            metadata = load_metadata(con, result) | source_metadata(source)
        if config.accept_row_drop:
            metadata[ROW_DROP_ACCEPTED] = True
        context.log.info(
            f"loaded {result.rows} rows into {spec.qualified_name} from {result.source}"
            + (f" for {len(seasons)} season(s)" if seasons else "")
        )
        return dg.MaterializeResult(metadata=metadata)

    return _raw_table


def rejection_failure(rejected: LoadRejected) -> dg.Failure:
    """The step failure for a rejected load: the one-line reason, and the offending rows."""
    return dg.Failure(
        description=str(rejected),
        metadata={
            "failed": "; ".join(f.name for f in rejected.report.failures),
            "offending_rows": dg.MetadataValue.md(failures_markdown(rejected.report.failures)),
        },
        # The same data would be rejected again: no retry, even for the network-bound source.
        allow_retries=False,
    )


def build_raw_assets(
    partitions: dg.PartitionsDefinition, *, network_bound: bool = False
) -> list[dg.AssetsDefinition]:
    """One raw asset per Ergast table."""
    with warnings.catch_warnings():
        # backfill_policy is marked beta; single-run backfills are a deliberate choice (one run, not 75).
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [
            build_raw_asset(spec, partitions, network_bound=network_bound)
            for spec in TABLES.values()
        ]
