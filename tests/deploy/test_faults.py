"""Faults on the native stack (deploy/stack.py): the code server or the daemon killed mid-run.

The smallest part of `make stack` that shows it: PostgreSQL-backed instance, the gRPC code server,
the webserver (runs are launched through its GraphQL API), the daemon and one API process over a
published snapshot, each started from deploy/services.yaml like `make stack` starts it. The
instance is deploy/dagster.yaml with shorter monitoring intervals and without run retries (so the
killed run stays the failed run this test checks, instead of being relaunched).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from deploy import stack
from p3_ingest.sources.source import available_seasons, seasons_to_load
from tests.fixtures.snapshots import PublishedSnapshot

SERVICES = {"dagster-code", "dagster-webserver", "dagster-daemon", "api"}
# orphaned_run_sensor at seconds instead of its defaults (120 s grace after the run started, 60 s
# interval): the sensor is what fails the killed run, whichever interval it runs at.
ORPHAN_SECONDS = 5
# After the code server restarts: the sensor daemon's first tick on the reloaded location, then
# the sensor's grace and interval.
FAILED_WITHIN_S = 420
RUN_TIMEOUT_S = 900  # a run process loads the whole code location on a busy 2-core machine
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def wait_for(what: str, probe: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(2)
    return result


def fault_instance_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((stack.DEPLOY / "dagster.yaml").read_text())
    config["run_monitoring"] |= {"poll_interval_seconds": 5, "free_slots_after_run_end_seconds": 5}
    config["run_retries"] = {"enabled": False}
    config["run_queue"]["user_code_failure_retry_delay"] = 5
    path = tmp_path / "dagster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_killing_the_code_server_or_the_daemon_mid_run(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    snapshot: PublishedSnapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster_graphql import DagsterGraphQLClient

    home = tmp_path / "stack_home"
    home.mkdir()
    shutil.copyfile(snapshot.path, home / "serving.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P3_", "MLFLOW_", "DAGSTER_"))}
    env |= {
        "P3_HOME": str(home),
        "P3_DATABASE_URL": postgres_url,
        "P3_REDIS_URL": redis_url,
        "P3_STACK_PORTS": "free",
        "P3_API_JWT_SECRET": "s" * 48,
        "P3_ORPHAN_GRACE_SECONDS": str(ORPHAN_SECONDS),
        "P3_ORPHAN_SENSOR_INTERVAL_SECONDS": str(ORPHAN_SECONDS),
    }
    native = stack.NativeStack(home, env, instance_config=fault_instance_config(tmp_path))
    try:
        info = native.up(say=lambda _: None, only=SERVICES)
        monkeypatch.setenv("P3_DAGSTER_DATABASE_URL", stack.with_driver(postgres_url, "psycopg2"))
        instance = dg.DagsterInstance.from_config(info["_instance"]["DAGSTER_HOME"])
        client = DagsterGraphQLClient("127.0.0.1", port_number=info["dagster-webserver"]["port"])
        api = f"{info['api-1']['url']}/readyz"

        def build_id() -> str:
            return httpx.get(api, timeout=30).json()["snapshot"]["build_id"]

        published = build_id()
        seasons = [
            str(s)
            for s in seasons_to_load(
                "demo", available_seasons("demo", ergast_dir=None, demo_seed=2024), None
            )
        ]

        def submit(job: str, first: str, last: str) -> str:
            return client.submit_job_execution(
                job,
                repository_location_name="p3",
                repository_name="__repository__",
                tags={
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                },
            )

        def status(run_id: str) -> dg.DagsterRunStatus:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            return run.status

        def finished(run_id: str, timeout: float = RUN_TIMEOUT_S) -> dg.DagsterRunStatus:
            wait_for(f"run {run_id} to finish", lambda: status(run_id) in FINISHED, timeout)
            return status(run_id)

        def stepping(run_id: str) -> bool:
            return bool(instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START))

        # 1. The code server dies (kill -9 of its process group, as when its container dies)
        # while a run executes a step there.
        doomed = submit("materialize_everything_job", seasons[0], seasons[-1])
        wait_for("the run's first step", lambda: stepping(doomed), RUN_TIMEOUT_S)
        assert status(doomed) == dg.DagsterRunStatus.STARTED
        os.killpg(native.pid("dagster-code") or 0, signal.SIGKILL)
        wait_for("the code server to be gone", lambda: native.pid("dagster-code") is None, 60)
        assert build_id() == published  # the API never needed the code server
        native.restart("dagster-code", say=lambda _: None)
        killed_at = time.monotonic()  # the code server is back
        assert finished(doomed, FAILED_WITHIN_S) == dg.DagsterRunStatus.FAILURE
        failed_after = time.monotonic() - killed_at
        # Marked failed because its worker is gone (orphaned_run_sensor: the default run
        # launcher gives run monitoring no worker health check), not by the runtime cap.
        failures = instance.all_logs(doomed, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert any("is gone: it was killed mid-run" in (e.message or "") for e in failures)
        # The failed run's duckdb_write slot is released: the next run's steps are not blocked.
        after = submit("ingest_ergast_job", seasons[-1], seasons[-1])
        assert finished(after) == dg.DagsterRunStatus.SUCCESS
        assert build_id() == published

        # 2. The daemon dies while a run is in progress: the run's worker belongs to the code
        # server, so it finishes; a run submitted meanwhile waits in the queue until the daemon
        # is back.
        running = submit("ingest_ergast_job", seasons[0], seasons[0])
        wait_for(
            "the run to leave the queue", lambda: status(running) != dg.DagsterRunStatus.QUEUED, 120
        )
        os.killpg(native.pid("dagster-daemon") or 0, signal.SIGKILL)
        wait_for("the daemon to be gone", lambda: native.pid("dagster-daemon") is None, 60)
        waiting = submit("ingest_ergast_job", seasons[1], seasons[1])
        assert finished(running) == dg.DagsterRunStatus.SUCCESS
        assert status(waiting) == dg.DagsterRunStatus.QUEUED
        native.restart("dagster-daemon", say=lambda _: None)
        assert finished(waiting) == dg.DagsterRunStatus.SUCCESS
        assert build_id() == published
        print(f"killed run marked failed {failed_after:.0f}s after the code server restarted")
    finally:
        native.down(say=lambda _: None)
    assert not native.running()
