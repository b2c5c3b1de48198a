"""``p3 materialize`` runs are runs of the code location's job: the run-failure alert sees them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorEvaluationContext

from p3_common.settings import Settings
from p3_dagster.definitions import build_definitions
from p3_dagster.defs.automation.sensors import build_run_failure_alert_sensor
from p3_dagster.defs.jobs import MATERIALIZE_EVERYTHING_JOB
from p3_dagster.materialize.job_run import REPOSITORY_NAME, code_location_origin
from tests.fixtures.dumps import write_demo_dump
from tests.p3_dagster.cli.p3_process import ONE_TABLE

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the definitions load the manifest


def test_materialize_everything_job_is_in_the_code_location() -> None:
    definitions = build_definitions(Settings())

    job = definitions.resolve_job_def(MATERIALIZE_EVERYTHING_JOB)

    graph = definitions.resolve_asset_graph()
    # Everything but the race-partitioned report, which its own job renders a race at a time.
    post_race = dg.AssetKey(["reports", "post_race"])
    assert post_race in graph.get_all_asset_keys()
    assert job.asset_layer.selected_asset_keys == graph.get_all_asset_keys() - {post_race}


def _evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    # The context the daemon builds: the sensor's code location is workspace.yaml's "p3".
    context = SensorEvaluationContext(
        instance_ref=None,
        cursor=cursor,
        repository_name=REPOSITORY_NAME,
        instance=instance,
        sensor_name=sensor.name,
        code_location_origin=code_location_origin(),
    )
    return sensor.evaluate_tick(context)


@pytest.mark.slow
def test_failed_cli_run_raises_the_run_failure_alert(
    start_p3, p3_env: dict[str, str], isolated_p3_env: Path, tmp_path: Path
) -> None:
    dump = write_demo_dump(tmp_path / "dump")
    (dump / "circuits.csv").unlink()  # the circuits step fails: a failed CLI run
    sensor = build_run_failure_alert_sensor(None)
    home = isolated_p3_env / "dagster"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        cursor = _evaluate(sensor, instance, None).cursor  # the sensor starts from "now"

    run = start_p3(
        "materialize",
        "--select",
        ONE_TABLE,
        env=p3_env | {"P3_SOURCE": "dump", "P3_ERGAST_DIR": str(dump)},
    )
    assert run.wait(timeout=300) == 1, run.output

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (failed,) = instance.get_runs()
        assert failed.status == dg.DagsterRunStatus.FAILURE
        assert failed.job_name == MATERIALIZE_EVERYTHING_JOB
        assert failed.tags["p3/source"] == "dump"
        assert failed.tags["p3/seasons"]
        reactions = _evaluate(sensor, instance, cursor).dagster_run_reactions
    assert [r.dagster_run.run_id for r in reactions] == [failed.run_id]
