"""Started runs whose worker process is gone are failed; runs with a live worker are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData

from p3_common.settings import Settings
from p3_dagster.monitoring import build_defs, orphans
from p3_dagster.monitoring.orphans import GRPC_TAG, build_orphaned_run_sensor, fail_orphaned_runs


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def started_run(
    instance: dg.DagsterInstance, worker_pid: int | None, *, grpc: bool = True
) -> dg.DagsterRun:
    """A STARTED run as the code server leaves it, whose worker reported ``worker_pid``."""
    tags = {GRPC_TAG: '{"host": "127.0.0.1", "port": 4000}'} if grpc else {}
    run = instance.add_run(
        dg.DagsterRun(
            job_name="job",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.NOT_STARTED,
            tags=tags,
        )
    )
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value,
            job_name=run.job_name,
            message="started",
        ),
    )
    if worker_pid is not None:
        instance.report_engine_event(
            f"Started process for run (pid: {worker_pid}).",
            run,
            EngineEventData.in_process(worker_pid),
        )
    return run_of(instance, run.run_id)


def run_of(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    found = instance.get_run_by_id(run_id)
    assert found is not None
    return found


def spawn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


LATER = time.time() + 3600  # past the grace period


def test_a_run_whose_worker_was_killed_is_marked_failed_and_says_why(
    instance: dg.DagsterInstance,
) -> None:
    worker = spawn()
    run = started_run(instance, worker.pid)
    worker.kill()
    worker.wait()

    assert fail_orphaned_runs(instance, now=LATER) == [run.run_id]

    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
    messages = [
        e.dagster_event.message or "" for e in instance.all_logs(run.run_id) if e.dagster_event
    ]
    assert any(f"The run worker (pid {worker.pid}) is gone" in m for m in messages)


def test_a_run_with_a_live_worker_is_left_running(instance: dg.DagsterInstance) -> None:
    worker = spawn()
    try:
        run = started_run(instance, worker.pid)
        assert fail_orphaned_runs(instance, now=LATER) == []
        assert run_of(instance, run.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        worker.kill()
        worker.wait()


def test_a_recycled_pid_does_not_keep_a_dead_run_alive(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pid 1 runs, but started long before this worker reported: it is not the worker. "Long" is
    # the spawn window (10 minutes); narrowed to 5 s, so that the test holds on a machine booted
    # minutes ago too (pid 1 started at boot).
    monkeypatch.setattr(orphans, "SPAWN_WINDOW_S", 5.0)
    run = started_run(instance, 1)
    assert fail_orphaned_runs(instance, now=LATER) == [run.run_id]


def test_young_runs_and_runs_not_launched_by_a_code_server_are_not_judged(
    instance: dg.DagsterInstance,
) -> None:
    worker = spawn()
    worker.kill()
    worker.wait()
    young = started_run(instance, worker.pid)
    local = started_run(instance, worker.pid, grpc=False)
    assert fail_orphaned_runs(instance, now=time.time()) == []  # inside the grace period
    assert fail_orphaned_runs(instance, now=LATER) == [young.run_id]
    assert run_of(instance, local.run_id).status == dg.DagsterRunStatus.STARTED
    assert os.getpid() > 1


def test_the_sensor_reports_what_it_failed(instance: dg.DagsterInstance) -> None:
    result = build_orphaned_run_sensor()(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "every started run has its worker"


def test_the_sensor_judges_runs_older_than_its_grace_and_fails_them(
    instance: dg.DagsterInstance,
) -> None:
    worker = spawn()
    worker.kill()
    worker.wait()
    run = started_run(instance, worker.pid)
    context = dg.build_sensor_context(instance=instance)
    young = build_orphaned_run_sensor(grace_seconds=3600)(context)
    assert isinstance(young, dg.SkipReason)
    assert young.skip_message == "every started run has its worker"
    judged = build_orphaned_run_sensor(grace_seconds=0)(context)
    assert isinstance(judged, dg.SkipReason)
    assert judged.skip_message == f"marked failed: {run.run_id}"
    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE


def test_the_grace_and_interval_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, orphan_grace_seconds=7.5, orphan_sensor_interval_seconds=9)
    defs = build_defs(settings)
    sensor = defs.resolve_sensor_def("orphaned_run_sensor")
    assert sensor.minimum_interval_seconds == 9
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    default = build_defs(Settings(home=tmp_path)).resolve_sensor_def("orphaned_run_sensor")
    assert default.minimum_interval_seconds == 60
    assert Settings(home=tmp_path).orphan_grace_seconds == 120


@pytest.mark.parametrize("field", ["orphan_grace_seconds", "orphan_sensor_interval_seconds"])
def test_the_orphan_settings_refuse_less_than_five_seconds(tmp_path: Path, field: str) -> None:
    with pytest.raises(ValueError, match="greater than or equal to 5"):
        Settings.model_validate({"home": tmp_path, field: 1})
