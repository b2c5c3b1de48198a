"""The new-race sensor: load a season again when the source has a race the cursor has not seen."""

# No `from __future__ import annotations`: Dagster reads resource type hints at runtime.

from datetime import UTC, datetime

import dagster as dg

from p3_ingest.sources.calendar import RaceRef, latest_completed_race, seasons_to_reload
from p3_ingest.sources.memory_catalog import InMemoryCatalog

from ...lib.resources import ErgastSourceResource
from ..run_queue import NEW_RACE_TAGS
from .jobs import ingest_ergast_job

# Jolpica allows 500 requests an hour; one schedule request every 10 minutes is a polite share.
MINIMUM_INTERVAL_SECONDS = 600


def build_new_race_results_sensor(seasons: list[int]) -> dg.SensorDefinition:
    """``new_race_results_sensor`` over the configured season partitions."""
    known = set(seasons)

    @dg.sensor(
        name="new_race_results_sensor",
        job=ingest_ergast_job,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Asks the source for its latest completed race (one calendar call per tick) and "
            "reloads the seasons of races newer than the cursor (last season-round seen); dbt, "
            "the snapshot and the cache follow through automation conditions."
        ),
    )
    def new_race_results_sensor(
        context: dg.SensorEvaluationContext, ergast: ErgastSourceResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Asks the source for its latest completed race (one calendar lookup per tick); when it is
        newer than the cursor (last ``season-round`` seen), requests one ingestion run per season
        to reload. Downstream dbt models and the snapshot follow through automation conditions.
        A source error fails the tick and leaves the cursor where it was."""
        cursor = RaceRef.parse(context.cursor) if context.cursor else None
        # The calendar needs no warehouse, so the sensor never opens the live DuckDB file.
        with ergast.open(InMemoryCatalog()) as source:
            latest = latest_completed_race(source, sorted(known)[-2:], datetime.now(UTC).date())
        seasons_due = [s for s in seasons_to_reload(latest, cursor) if s in known]
        if latest is None or not seasons_due:
            return dg.SkipReason(f"no race newer than {cursor or 'the start'} (latest: {latest})")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    partition_key=str(season),
                    run_key=f"{season}@{latest}",
                    tags={"p3/trigger": "new_race", "p3/latest_race": str(latest)} | NEW_RACE_TAGS,
                )
                for season in seasons_due
            ],
            cursor=str(latest),
        )

    return new_race_results_sensor
