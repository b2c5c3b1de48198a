"""``serving/ml_snapshot``: the ML outputs published read-only for the API, like the marts' snapshot."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

from pathlib import Path

import dagster as dg

from p3_common.snapshot import read_snapshot
from p3_ingest.publish import publish_snapshot

from ...lib.resources import PublishedSnapshotResource, WarehouseResource
from ..automation.policies import eager_after_checks
from .assets import LAP_ANOMALIES_KEY, PIT_ANOMALIES_KEY, PREDICTIONS_KEY, PROFILES_KEY

ML_SNAPSHOT_KEY = dg.AssetKey(["serving", "ml_snapshot"])
ML_SCHEMA = "ml"


@dg.asset(
    key=ML_SNAPSHOT_KEY,
    deps=[PREDICTIONS_KEY, LAP_ANOMALIES_KEY, PIT_ANOMALIES_KEY, PROFILES_KEY],
    # In the ML group: it exists only where the ML outputs do (`--select 'not group:ml'` skips it).
    group_name="ml",
    kinds={"duckdb"},
    pool="duckdb_write",
    automation_condition=eager_after_checks(),
    tags={"layer": "serving"},
)
def ml_snapshot(
    context: dg.AssetExecutionContext,
    duckdb: WarehouseResource,
    ml_snapshot: PublishedSnapshotResource,
) -> dg.MaterializeResult:
    """The published read-only file of the ML outputs (P3_ML_SNAPSHOT_PATH): the latest race's
    predictions, lap-time and pit-stop anomalies and driver profiles (the ``ml`` schema), with a
    content build id. Published after each of them is rebuilt; the API's ``/v1/predictions`` and
    ``/v1/anomalies`` read it, never the live warehouse."""
    published = Path(ml_snapshot.path)
    previous = read_snapshot(published, missing_ok=True)
    result = publish_snapshot(
        Path(duckdb.database), published, run_id=context.run.run_id, schemas=(ML_SCHEMA,)
    )
    context.log.info(f"published ML build {result.build_id} to {published}")
    return dg.MaterializeResult(
        metadata={
            "build_id": result.build_id,
            "previous_build_id": previous.build_id if previous else "none",
            "path": dg.MetadataValue.path(str(published)),
            "tables": dg.MetadataValue.json(result.tables),
            "dagster/row_count": sum(result.tables.values()),
        },
        data_version=dg.DataVersion(result.build_id),
    )
