"""``race_published_sensor``: a post-race report for every race a publish adds."""

# No `from __future__ import annotations`: Dagster inspects the sensor's context and resource hints.

import json
from pathlib import Path

import dagster as dg

from p3_common.snapshot import read_snapshot

from ...lib.resources import PublishedSnapshotResource
from .assets import POST_RACE_KEY, race_partitions

render_post_race_reports_job = dg.define_asset_job(
    "render_post_race_reports_job",
    selection=[POST_RACE_KEY],  # partitioned by race_partitions, which the job takes from it
    description="Renders the post-race report of one race (a partition of reports/post_race).",
)


@dg.sensor(
    name="race_published_sensor",
    job=render_post_race_reports_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After each publish, requests one post-race report per race the new snapshot added "
        "(cursor: the last race reported and the build it came from)."
    ),
)
def race_published_sensor(
    context: dg.SensorEvaluationContext, snapshot: PublishedSnapshotResource
) -> dg.SensorResult | dg.SkipReason:
    """Reads the published snapshot's build id (a cheap read-only look); when it changed, adds a
    ``reports/post_race`` partition for every race with results newer than the cursor's race
    (only the newest on the first tick) and requests it. A snapshot is only published once its
    checks passed."""
    from p3_reports.race_data import races_after

    path = Path(snapshot.path)
    published = read_snapshot(path, missing_ok=True)
    if published is None:
        return dg.SkipReason(f"nothing published yet at {path}")
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("build") == published.build_id:
        return dg.SkipReason(f"build {published.build_id} already seen")
    races = races_after(path, cursor.get("race"))
    requests = [
        dg.RunRequest(
            run_key=f"post_race:{race}:{published.build_id}",
            partition_key=race,
            tags={"p3/race": race},
        )
        for race in races
    ]
    last = races[-1] if races else cursor.get("race")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[race_partitions.build_add_request(races)] if races else [],
        cursor=json.dumps({"race": last, "build": published.build_id}),
    )
