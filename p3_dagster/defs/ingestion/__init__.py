"""Ingestion: Ergast tables from the configured source into raw.* in the DuckDB warehouse."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import Settings

from .assets import build_raw_assets
from .jobs import ingest_ergast_job
from .partitions import build_season_partitions
from .schedules import build_schedules
from .sensors import build_new_race_results_sensor


def build_defs(settings: Settings, seasons: list[int]) -> dg.Definitions:
    """Raw assets partitioned over ``seasons``, the job that loads them, its schedules and sensor."""
    partitions = build_season_partitions(seasons)
    return dg.Definitions(
        assets=build_raw_assets(partitions, network_bound=settings.source == "jolpica"),
        jobs=[ingest_ergast_job],
        schedules=build_schedules(seasons),
        sensors=[build_new_race_results_sensor(seasons)],
    )
