"""Started runs whose worker process is gone are failed; runs with a live worker are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import EngineEventData

from p3_dagster.monitoring.orphans import GRPC_TAG, fail_orphaned_runs, orphaned_run_sensor


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
    return instance.get_run_by_id(run.run_id)


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
    assert failed.status == dg.DagsterRunStatus.FAILURE
    messages = [
        e.dagster_event.message or "" for e in instance.all_logs(run.run_id) if e.dagster_event
    ]
    assert any(f"The run worker (pid {worker.pid}) is gone" in m for m in messages)


def test_a_run_with_a_live_worker_is_left_running(instance: dg.DagsterInstance) -> None:
    worker = spawn()
    try:
        run = started_run(instance, worker.pid)
        assert fail_orphaned_runs(instance, now=LATER) == []
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        worker.kill()
        worker.wait()


def test_a_recycled_pid_does_not_keep_a_dead_run_alive(instance: dg.DagsterInstance) -> None:
    # pid 1 runs, but started long before this worker reported: it is not the worker.
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
    assert instance.get_run_by_id(local.run_id).status == dg.DagsterRunStatus.STARTED
    assert os.getpid() > 1


def test_the_sensor_reports_what_it_failed(instance: dg.DagsterInstance) -> None:
    result = orphaned_run_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "every started run has its worker"
