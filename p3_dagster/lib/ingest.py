"""One ingestion step as a plain function: read a table from a source, load it, describe the result."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from p3_common.ergast import TABLES

from .ergast.source import ErgastSource
from .warehouse import LoadResult, load_reference, load_seasons


def ingest_table(
    con: duckdb.DuckDBPyConnection,
    source: ErgastSource,
    table: str,
    *,
    run_id: str,
    seasons: Sequence[int] = (),
) -> LoadResult:
    """Load ``table`` from ``source`` into ``raw.ergast__<table>``.

    Reference tables are replaced whole (columns the source cannot fill keep their warehouse
    values); race-scoped tables replace exactly the given seasons.
    Every frame is read before the write transaction starts, so a bad season fails the step
    without touching any previously loaded rows.
    """
    if not TABLES[table].season_scoped:
        return load_reference(
            con,
            table,
            source.reference_table(table),
            source=source.name,
            run_id=run_id,
            keep_existing=source.columns_not_provided(table),
        )
    if not seasons:
        raise ValueError(f"{table!r} is partitioned by season: name at least one season to load")
    frames = {season: source.season_table(table, season) for season in sorted(set(seasons))}
    return load_seasons(con, table, frames, source=source.name, run_id=run_id)
