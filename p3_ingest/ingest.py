"""One ingestion step as a plain function: read a table from a source, validate it, load it."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from p3_common.ergast import TABLES

from .quality import committed_baseline, validate_before_commit
from .sources.source import ErgastSource
from .warehouse import BeforeCommit, LoadResult, load_reference, load_seasons


def ingest_table(
    con: duckdb.DuckDBPyConnection,
    source: ErgastSource,
    table: str,
    *,
    run_id: str,
    seasons: Sequence[int] = (),
    accept_row_drop: bool = False,
) -> LoadResult:
    """Load ``table`` from ``source`` into ``raw.ergast__<table>``, if it passes the blocking rules.

    Reference tables are replaced whole (columns the source cannot fill keep their warehouse
    values); race-scoped tables replace exactly the given seasons. Every frame is read before the
    write transaction starts, and inside it the new rows are validated (contract, keys, ranges,
    references, completeness, row counts against what the table holds now, the last accepted
    load) before the commit: a bad source fails the step with ``SourceError``, a load that breaks
    a rule raises ``LoadRejected``, and either way the previously loaded rows stay untouched.
    ``accept_row_drop`` skips the row-count comparison for a deliberate shrink.
    """
    spec = TABLES[table]
    if not spec.season_scoped:
        data = source.reference_table(table)
        gate = _gate(con, table, None, accept_row_drop)
        return load_reference(
            con,
            table,
            data,
            source=source.name,
            run_id=run_id,
            keep_existing=source.columns_not_provided(table),
            before_commit=gate,
        )
    if not seasons:
        raise ValueError(f"{table!r} is partitioned by season: name at least one season to load")
    wanted = sorted(set(seasons))
    frames = {season: source.season_table(table, season) for season in wanted}
    gate = _gate(con, table, wanted, accept_row_drop)
    return load_seasons(con, table, frames, source=source.name, run_id=run_id, before_commit=gate)


def _gate(
    con: duckdb.DuckDBPyConnection, table: str, seasons: list[int] | None, accept_row_drop: bool
) -> BeforeCommit:
    baseline = {} if accept_row_drop else committed_baseline(con, table, seasons)
    return validate_before_commit(table, seasons, baseline)
