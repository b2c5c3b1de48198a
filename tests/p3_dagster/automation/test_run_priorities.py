"""Run priorities: the runs P3 makes carry the queue tags of p3_dagster/defs/run_queue.py, and
Dagster's own queue daemon, on the production instance (deploy/dagster.yaml, PostgreSQL), takes a
new-race run before a backfill queued earlier and never runs two training runs at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import pytest
import redis
import yaml
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from deploy import stack
from p3_common.settings import REPO_ROOT
from p3_dagster.defs.live.sensors import build_race_finished_sensor
from p3_dagster.defs.ml.schedules import train_models_job
from p3_dagster.defs.run_queue import (
    BACKFILL_TAGS,
    NEW_RACE_PRIORITY,
    PRIORITY_TAG,
    RACE_FINISHED_PRIORITY,
    WORKLOAD_TAG,
)
from p3_live.streams import connect, finished_key
from tests.fixtures.dumps import write_demo_dump
from tests.fixtures.postgres import throwaway_database
from tests.fixtures.servers import free_port

from .queue_location import hold_job
from .test_new_race_sensor import sensor_for

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the source resource reads settings

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
LOCATION = "queue_test"
RUN_TIMEOUT_S = 180  # a run process imports Dagster on a busy 2-core machine


def new_race_request_tags(tmp_path: Path) -> dict[str, str]:
    sensor, resources = sensor_for(write_demo_dump(tmp_path / "dump"))
    with dg.build_sensor_context(resources=resources) as context:
        result = sensor(context)
    (request,) = result.run_requests
    return dict(request.tags)


# --- (a) the runs carry the tags ---------------------------------------------------------------


def test_new_race_runs_leave_the_queue_before_default_runs(tmp_path: Path) -> None:
    tags = new_race_request_tags(tmp_path)
    assert int(tags[PRIORITY_TAG]) == NEW_RACE_PRIORITY > 0
    assert tags["p3/trigger"] == "new_race"


def test_race_finished_runs_leave_the_queue_before_default_runs() -> None:
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {MACHINE_REDIS}")
    prefix = f"p3test:live:{uuid.uuid4().hex[:12]}"
    client = connect(MACHINE_REDIS)
    try:
        client.xadd(finished_key(prefix), {"season": "2020", "round": "1"})
        result = build_race_finished_sensor(MACHINE_REDIS, prefix, seasons=[2020])(
            dg.build_sensor_context()
        )
    finally:
        client.delete(finished_key(prefix))
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests or []
    assert int(request.tags[PRIORITY_TAG]) == RACE_FINISHED_PRIORITY > 0


TRAINING_RUN_TAGS = dict(train_models_job.run_tags or {})


def test_every_training_run_carries_the_workload_the_instance_limits_to_one() -> None:
    assert TRAINING_RUN_TAGS.get(WORKLOAD_TAG) == "training"
    limits = yaml.safe_load((REPO_ROOT / "deploy/dagster.yaml").read_text())["concurrency"]["runs"]
    limit = {
        (lim["key"], lim.get("value")): lim["limit"] for lim in limits["tag_concurrency_limits"]
    }
    assert limit[(WORKLOAD_TAG, "training")] == 1


def test_backfills_queue_behind_everything_else() -> None:
    assert int(BACKFILL_TAGS[PRIORITY_TAG]) < 0


# --- (b) Dagster's queue daemon on the production instance ------------------------------------


def production_instance_home(tmp_path: Path, max_concurrent_runs: int | None) -> Path:
    """deploy/dagster.yaml in a DAGSTER_HOME, with ``max_concurrent_runs`` changed if given."""
    config = yaml.safe_load((REPO_ROOT / "deploy/dagster.yaml").read_text())
    if max_concurrent_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    home = tmp_path / f"dagster_{max_concurrent_runs}"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


class Queue:
    """The production instance, a code location with ``hold_job``, and one dequeue at a time."""

    def __init__(self, instance: dg.DagsterInstance, context, folder: Path) -> None:  # noqa: ANN001
        self.instance = instance
        self.context = context
        self.folder = folder
        self.daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        self.remote_job = (
            context.create_request_context()
            .get_code_location(LOCATION)
            .get_repository("__repository__")
            .get_full_job("hold_job")
        )

    def submit(self, tags: dict[str, str]) -> str:
        run_id = str(uuid.uuid4())
        run = self.instance.create_run_for_job(
            hold_job,
            run_id=run_id,
            tags=tags,
            run_config={"ops": {"hold": {"config": {"release_file": str(self.release(run_id))}}}},
            remote_job_origin=self.remote_job.get_remote_origin(),
            job_code_origin=self.remote_job.get_python_origin(),
        )
        self.instance.submit_run(run.run_id, self.context.create_request_context())
        return run.run_id

    def release(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.release"

    def dequeue(self) -> None:
        """One iteration of Dagster's queue daemon."""
        list(self.daemon.run_iteration(self.context))

    def status(self, run_id: str) -> dg.DagsterRunStatus:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run.status

    def finish(self, run_id: str) -> None:
        self.release(run_id).touch()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while self.status(run_id) != dg.DagsterRunStatus.SUCCESS:
            assert time.monotonic() < deadline, f"run {run_id} is {self.status(run_id)}"
            time.sleep(0.5)


@contextmanager
def code_server(port: int, log: Path) -> Iterator[None]:
    """``dagster api grpc`` serving ``queue_location`` (as the stack's code server serves P3),
    stopped with its run processes at the end."""
    dagster = str(Path(sys.executable).parent / "dagster")
    argv = [dagster, "api", "grpc", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--module-name", "tests.p3_dagster.automation.queue_location", "--attribute", "defs"]
    argv += ["--location-name", LOCATION, "--working-directory", str(REPO_ROOT)]
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        check = [dagster, "api", "grpc-health-check", "--host", "127.0.0.1", "--port", str(port)]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while subprocess.run(check, capture_output=True, check=False).returncode != 0:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the code server did not start"
            time.sleep(1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def queue_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    with ExitStack() as stack_:
        url = stack_.enter_context(throwaway_database("p3_queue_test"))
        monkeypatch.setenv("P3_DAGSTER_DATABASE_URL", stack.with_driver(url, "psycopg2"))
        port = free_port()
        stack_.enter_context(code_server(port, tmp_path / "code_server.log"))
        target = GrpcServerTarget(host="127.0.0.1", port=port, socket=None, location_name=LOCATION)

        def open_queue(max_concurrent_runs: int | None = None) -> Queue:
            home = production_instance_home(tmp_path, max_concurrent_runs)
            instance = stack_.enter_context(dg.DagsterInstance.from_config(str(home)))
            context = stack_.enter_context(create_test_daemon_workspace_context(target, instance))
            queue = Queue(instance, context, tmp_path)
            stack_.enter_context(queue.daemon)
            return queue

        # Closing (in reverse): the daemon, the workspace and the instance, then the code server
        # and its run processes, then the database.
        yield open_queue


@pytest.mark.slow
def test_the_queue_daemon_takes_a_new_race_run_before_an_earlier_backfill(
    tmp_path: Path, queue_factory
) -> None:  # noqa: ANN001
    # One free run slot: whichever run the daemon dequeues first is the only one that starts.
    queue = queue_factory(max_concurrent_runs=1)
    backfill = queue.submit(BACKFILL_TAGS | {"dagster/backfill": "b1"})
    new_race = queue.submit(new_race_request_tags(tmp_path))
    queue.dequeue()
    assert queue.status(new_race) != dg.DagsterRunStatus.QUEUED
    assert queue.status(backfill) == dg.DagsterRunStatus.QUEUED
    queue.finish(new_race)
    queue.dequeue()
    assert queue.status(backfill) != dg.DagsterRunStatus.QUEUED
    queue.finish(backfill)


@pytest.mark.slow
def test_the_queue_daemon_never_runs_two_training_runs_at_once(queue_factory) -> None:  # noqa: ANN001
    queue = queue_factory()  # the production limits as they are: four run slots
    first = queue.submit(TRAINING_RUN_TAGS)
    second = queue.submit(TRAINING_RUN_TAGS)
    other = queue.submit({})
    queue.dequeue()
    assert queue.status(first) != dg.DagsterRunStatus.QUEUED
    assert queue.status(other) != dg.DagsterRunStatus.QUEUED  # free slots are used
    assert queue.status(second) == dg.DagsterRunStatus.QUEUED
    queue.dequeue()  # the first is still running: the second still waits
    assert queue.status(second) == dg.DagsterRunStatus.QUEUED
    queue.finish(first)
    queue.dequeue()
    assert queue.status(second) != dg.DagsterRunStatus.QUEUED
    queue.finish(second)
    queue.finish(other)
