"""The race-finished sensor: when a live stream sees a chequered flag, ingest that season again."""

from collections.abc import Sequence

import dagster as dg

from p3_live.streams import connect, finished_since

from ..ingestion.jobs import ingest_ergast_job
from ..run_queue import RACE_FINISHED_TAGS

MINIMUM_INTERVAL_SECONDS = 30


def build_race_finished_sensor(
    redis_url: str | None, prefix: str, seasons: Sequence[int]
) -> dg.SensorDefinition:
    """``race_finished_sensor`` reading ``{prefix}:finished`` on ``redis_url`` (None: live mode
    is not configured and every tick says so)."""
    known = set(seasons)

    @dg.sensor(
        name="race_finished_sensor",
        job=ingest_ergast_job,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Reads the live processors' finished-races stream (cursor: last entry id) and requests "
            "ingestion of each finished race's season; dbt, the snapshot and the cache follow "
            "through automation conditions."
        ),
    )
    def race_finished_sensor(
        context: dg.SensorEvaluationContext,
    ) -> dg.SensorResult | dg.SkipReason:
        """Requests one ``ingest_ergast_job`` run per season whose race a live processor saw
        finish since the cursor (the last entry id of the finished-races stream)."""
        if redis_url is None:
            return dg.SkipReason("live mode is not configured (P3_LIVE_REDIS_URL / P3_REDIS_URL)")
        client = connect(redis_url)
        try:
            finished = finished_since(client, prefix, context.cursor)
        finally:
            client.close()
        if not finished:
            return dg.SkipReason(f"no race finished since {context.cursor or 'the start'}")
        requests = [
            dg.RunRequest(
                partition_key=str(season),
                run_key=f"live-finish-{season}-{round}-{entry_id}",
                tags={"p3/trigger": "race_finished", "p3/race": f"{season}-{round}"}
                | RACE_FINISHED_TAGS,
            )
            for entry_id, season, round in finished
            if season in known
        ]
        skipped = sorted({season for _, season, _ in finished} - known)
        if skipped:
            context.log.warning(f"finished races of seasons outside the partitions: {skipped}")
        return dg.SensorResult(run_requests=requests, cursor=finished[-1][0])

    return race_finished_sensor
