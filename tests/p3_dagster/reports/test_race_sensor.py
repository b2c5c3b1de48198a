"""race_published_sensor: one post-race report request per race a publish adds."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_dagster.defs.reports import build_defs
from p3_dagster.defs.reports.sensors import race_published_sensor
from p3_dagster.lib.components import OutputsResource
from p3_dagster.lib.resources import PublishedSnapshotResource
from tests.fixtures.snapshots import PublishedSnapshot


def _tick(path: Path, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    context = dg.build_sensor_context(
        cursor=cursor, resources={"snapshot": PublishedSnapshotResource(path=str(path))}
    )
    return race_published_sensor(context)  # type: ignore[return-value]


def test_nothing_published_is_a_skip(tmp_path: Path) -> None:
    result = _tick(tmp_path / "serving.duckdb", None)
    assert isinstance(result, dg.SkipReason) and "nothing published yet" in str(result.skip_message)


@pytest.mark.slow
def test_first_tick_reports_the_newest_race_then_only_races_a_new_build_adds(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    with duckdb.connect(str(snapshot.path), read_only=True) as con:
        races = [
            f"{s}-{r}"
            for s, r in con.execute(
                "select distinct season, round from marts.fct_race_results"
                " order by season desc, round desc limit 4"
            ).fetchall()
        ][::-1]
        build = con.execute("select build_id from p3_meta.build").fetchone()[0]  # type: ignore[index]
    first = _tick(snapshot.path, None)
    assert isinstance(first, dg.SensorResult)
    assert [r.partition_key for r in first.run_requests or []] == [races[-1]]
    (added,) = first.dynamic_partitions_requests or []
    assert isinstance(added, dg.AddDynamicPartitionsRequest)
    assert added.partitions_def_name == "races" and list(added.partition_keys) == [races[-1]]
    assert json.loads(first.cursor or "") == {"race": races[-1], "build": build}

    again = _tick(snapshot.path, first.cursor)
    assert isinstance(again, dg.SkipReason) and "already seen" in str(again.skip_message)

    # A build that added the last three races (the cursor still at the race before them).
    older = json.dumps({"race": races[0], "build": "an-older-build"})
    batch = _tick(snapshot.path, older)
    assert isinstance(batch, dg.SensorResult)
    requests = batch.run_requests or []
    assert [r.partition_key for r in requests] == races[1:]
    assert [r.tags["p3/race"] for r in requests] == races[1:]
    assert list((batch.dynamic_partitions_requests or [])[0].partition_keys) == races[1:]
    assert len({r.run_key for r in requests}) == 3

    defs = dg.Definitions.merge(
        build_defs(),
        dg.Definitions(
            resources={
                "snapshot": PublishedSnapshotResource(path=str(snapshot.path)),
                "ml_snapshot": PublishedSnapshotResource(path=str(tmp_path / "ml.duckdb")),
                "outputs": OutputsResource(root=str(tmp_path)),
            }
        ),
    )
    job = defs.resolve_job_def("render_post_race_reports_job")
    assert job.partitions_def is not None and job.partitions_def.name == "races"
    for request in requests:
        assert dg.validate_run_config(job, request.run_config)
