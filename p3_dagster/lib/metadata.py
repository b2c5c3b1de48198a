"""Dagster metadata for a loaded raw table: row counts, column schema and a small preview."""

from __future__ import annotations

import dagster as dg
import duckdb

from p3_common.ergast import SEASON_COLUMN, TABLES
from p3_ingest.sources.jolpica import JolpicaSource
from p3_ingest.sources.schema import DUCKDB_TYPES
from p3_ingest.sources.source import ErgastSource
from p3_ingest.warehouse import LoadResult, lineage_columns

PREVIEW_ROWS = 5


def column_schema(table: str) -> dg.TableSchema:
    """The raw table's columns (contract plus lineage) as a Dagster table schema."""
    spec = TABLES[table]
    columns = [
        dg.TableColumn(
            c.name,
            DUCKDB_TYPES[c.type],
            constraints=dg.TableColumnConstraints(nullable=c.nullable),
        )
        for c in spec.columns
    ]
    columns += [dg.TableColumn(name, sql_type) for name, sql_type in lineage_columns(spec)]
    return dg.TableSchema(columns=columns)


def load_metadata(con: duckdb.DuckDBPyConnection, result: LoadResult) -> dict[str, object]:
    """Metadata describing a load, for ``MaterializeResult``: what was written and what the table holds."""
    spec = TABLES[result.table]
    preview_filter = ""
    params: list[object] = []
    if result.rows_by_season:
        preview_filter = f'WHERE "{SEASON_COLUMN}" = ?'
        params = [max(result.rows_by_season)]
    preview = con.sql(
        f"SELECT * EXCLUDE (_loaded_at, _run_id) FROM {spec.qualified_name} {preview_filter} "
        f"ORDER BY ALL LIMIT {PREVIEW_ROWS}",
        params=params or None,
    ).df()
    total = con.execute(f"SELECT count(*) FROM {spec.qualified_name}").fetchall()[0][0]
    metadata: dict[str, object] = {
        # The asset is the whole table; a single-run backfill attaches this to every season in it.
        "dagster/row_count": dg.MetadataValue.int(int(total)),
        "rows_loaded": dg.MetadataValue.int(result.rows),
        "replaced_rows": dg.MetadataValue.int(result.replaced_rows),
        "source": dg.MetadataValue.text(result.source),
        "synthetic": dg.MetadataValue.bool(result.source == "demo"),
        "preview": dg.MetadataValue.md(
            preview.to_markdown(index=False) if len(preview) else "_empty_"
        ),
    }
    if result.rows_by_season:
        metadata["seasons"] = dg.MetadataValue.text(_season_span(sorted(result.rows_by_season)))
        metadata["rows_by_season"] = dg.MetadataValue.json(
            {str(k): v for k, v in sorted(result.rows_by_season.items())}
        )
    return metadata


def source_metadata(source: ErgastSource) -> dict[str, object]:
    """What the source itself reports: request, retry and throttling counts for the API."""
    if isinstance(source, JolpicaSource):
        return dict(source.client.stats.as_metadata())
    return {}


def _season_span(seasons: list[int]) -> str:
    return str(seasons[0]) if len(seasons) == 1 else f"{seasons[0]}-{seasons[-1]} ({len(seasons)})"
