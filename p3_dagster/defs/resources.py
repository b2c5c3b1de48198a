"""The resource dictionary for the current P3_ENV, built from settings."""

from __future__ import annotations

from typing import Any

from p3_common.settings import Settings

from ..lib.cache_resource import CacheResource
from ..lib.dbt import build_dbt_resource
from ..lib.mlflow_resource import build_mlflow_resource
from ..lib.resources import (
    ErgastSourceResource,
    PublishedSnapshotResource,
    WarehouseResource,
)


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources keyed by the names assets ask for: the warehouse, the F1 source, dbt and MLflow."""
    return {
        "duckdb": WarehouseResource(database=str(settings.warehouse_path)),
        "ergast": build_source_resource(settings),
        "snapshot": PublishedSnapshotResource(path=str(settings.serving_duckdb_path)),
        "ml_snapshot": PublishedSnapshotResource(path=str(settings.ml_snapshot_path)),
        "dbt": build_dbt_resource(settings),
        "mlflow": build_mlflow_resource(settings),
        "cache": CacheResource(redis_url=settings.redis_url, cache_dir=str(settings.cache_dir)),
    }


def build_source_resource(settings: Settings) -> ErgastSourceResource:
    """The configured F1 source (P3_SOURCE and its options)."""
    return ErgastSourceResource(
        kind=settings.source,
        ergast_dir=str(settings.ergast_dir) if settings.ergast_dir else None,
        jolpica_url=str(settings.jolpica_url).rstrip("/"),
        jolpica_burst_per_second=settings.jolpica_burst_per_second,
        jolpica_hourly_limit=settings.jolpica_hourly_limit,
        jolpica_timeout_seconds=settings.jolpica_timeout_seconds,
        jolpica_request_deadline_seconds=settings.jolpica_request_deadline_seconds,
        jolpica_step_deadline_seconds=settings.jolpica_step_deadline_seconds,
        demo_seed=settings.demo_seed,
    )
