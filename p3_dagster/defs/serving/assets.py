"""The published snapshot: marts copied to a read-only file that readers open instead of the warehouse."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import functools
from pathlib import Path

import dagster as dg

from p3_common.snapshot import read_snapshot
from p3_ingest.publish import publish_snapshot

from ...lib.resources import PublishedSnapshotResource, WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["serving", "warehouse_snapshot"])


@functools.cache
def build_snapshot_asset(marts: tuple[dg.AssetKey, ...]) -> dg.AssetsDefinition:
    """``serving/warehouse_snapshot``, downstream of every mart."""

    @dg.asset(
        key=SNAPSHOT_KEY,
        deps=list(marts),
        group_name="serving",
        kinds={"duckdb"},
        pool="duckdb_write",
        tags={"layer": "serving"},
    )
    def warehouse_snapshot(
        context: dg.AssetExecutionContext,
        duckdb: WarehouseResource,
        snapshot: PublishedSnapshotResource,
    ) -> dg.MaterializeResult:
        """The published snapshot of the marts (P3_SERVING_DUCKDB_PATH), with a content build_id.

        Built only after every upstream mart and its blocking checks succeeded in the run: the marts
        are copied into a new file that atomically replaces the published one. Readers (query
        engine, API, notebooks) open it read-only and never touch the live warehouse; a failed or
        blocked run leaves the previous snapshot and its build_id in place.
        """
        published = Path(snapshot.path)
        previous = read_snapshot(published, missing_ok=True)
        result = publish_snapshot(Path(duckdb.database), published, run_id=context.run.run_id)
        context.log.info(f"published build {result.build_id} to {published}")
        return dg.MaterializeResult(
            metadata={
                "build_id": result.build_id,
                "previous_build_id": previous.build_id if previous else "none",
                "changed": previous is None or previous.build_id != result.build_id,
                "path": dg.MetadataValue.path(str(published)),
                "tables": dg.MetadataValue.json(result.tables),
                "dagster/row_count": sum(result.tables.values()),
            },
            data_version=dg.DataVersion(result.build_id),
        )

    return warehouse_snapshot
