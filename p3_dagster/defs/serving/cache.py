"""``serving/query_cache``: warm the hot queries for the newly published build, then switch to it."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import functools
from pathlib import Path

import dagster as dg

from p3_common.snapshot import read_snapshot
from p3_query.cache.calendar import RaceCalendar
from p3_query.cache.engine_adapter import snapshot_computer
from p3_query.cache.refresh import refresh_cache
from p3_query.cache.warming import load_predictor

from ...lib.cache_resource import CacheResource
from ...lib.resources import PublishedSnapshotResource
from .assets import SNAPSHOT_KEY
from .sequence_model import SEQUENCE_MODEL_KEY

CACHE_KEY = dg.AssetKey(["serving", "query_cache"])


@functools.cache
def build_cache_asset() -> dg.AssetsDefinition:
    """``serving/query_cache``, downstream of the snapshot and the query-sequence model."""

    @dg.asset(
        key=CACHE_KEY,
        deps=[SNAPSHOT_KEY, SEQUENCE_MODEL_KEY],
        group_name="serving",
        kinds={"redis", "sqlite"},  # Redis when P3_REDIS_URL is set, else the embedded cache
        owners=["team:data-platform"],
        tags={"layer": "serving"},
    )
    def query_cache(
        context: dg.AssetExecutionContext,
        cache: CacheResource,
        snapshot: PublishedSnapshotResource,
    ) -> dg.MaterializeResult:
        """The query cache for the published build: hot queries pre-computed, then made current.

        Grain: one cached answer per (build_id, query_hash), keyed ``p3:{build_id}:{query_hash}``,
        in Redis (P3_REDIS_URL) or the embedded SQLite cache (P3_CACHE_DIR). The hot set that
        `serving/query_sequence_model` predicts for the coming phase of the race calendar is
        computed against the new snapshot, and ``p3:current`` flips to the new build in one atomic
        step; the previous build expires after a short grace period. Metadata: cache analytics
        (hits, misses, hit ratio, evictions, memory, latency by hit/miss, hottest and costliest).
        """
        published = Path(snapshot.path)
        current = read_snapshot(published, missing_ok=True)
        if current is None:
            raise dg.Failure(
                f"no published snapshot at {published}; materialise the snapshot first"
            )
        with cache.open() as store, snapshot_computer(published, current.build_id) as compute:
            result = refresh_cache(
                store,
                current.build_id,
                compute,
                model=load_predictor(store),
                calendar=RaceCalendar.from_snapshot(published),
                budget=cache.warm_budget,
            )
        context.log.info(
            f"warmed {result.report.computed} queries for build {current.build_id} "
            f"({cache.backend}); p3:current was {result.report.previous_build}"
        )
        metadata = result.metadata()
        return dg.MaterializeResult(
            metadata={
                **{k: v for k, v in metadata.items() if not isinstance(v, (dict, list))},
                **{
                    k: dg.MetadataValue.json(v)
                    for k, v in metadata.items()
                    if isinstance(v, (dict, list))
                },
                "dagster/row_count": result.stats.entries,
            },
            data_version=dg.DataVersion(current.build_id),
        )

    return query_cache
