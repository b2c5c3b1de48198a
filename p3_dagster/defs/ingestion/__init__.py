"""Ingestion: Ergast tables from the configured source into raw.* in the DuckDB warehouse."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import Settings

from .assets import build_raw_assets
from .checks import build_raw_checks
from .jobs import ingest_ergast_job
from .partitions import build_season_partitions
from .schedules import build_schedules
from .sensors import build_new_race_results_sensor


def build_defs(settings: Settings, seasons: list[int]) -> dg.Definitions:
    """Raw assets over ``seasons`` with their blocking checks, the job loading them, schedules, sensor."""
    partitions = build_season_partitions(seasons)
    raw_assets = build_raw_assets(partitions, network_bound=settings.source == "jolpica")
    return dg.Definitions(
        assets=raw_assets,
        asset_checks=build_raw_checks(raw_assets),
        jobs=[ingest_ergast_job],
        schedules=build_schedules(seasons),
        sensors=[build_new_race_results_sensor(seasons)],
    )
