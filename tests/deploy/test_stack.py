"""`make stack` on this machine: the production topology natively, a full run launched through the
webserver's GraphQL API and drained from the queue, then checked where production would look."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from deploy import stack
from p3_ingest.sources.source import available_seasons, seasons_to_load

RUN_TIMEOUT_S = 1500  # the whole demo graph on a busy 2-core machine


def prometheus_query(base: str, query: str) -> list[dict]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=30).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(what: str, probe, timeout: float = 120.0):  # noqa: ANN001, ANN201 - a test helper
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_make_stack_runs_the_full_job_from_graphql_through_the_queue(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not found: apt-get install prometheus")
    import psycopg
    from dagster_graphql import DagsterGraphQLClient

    home = tmp_path / "p3_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P3_", "MLFLOW_", "DAGSTER_"))}
    env |= {
        "P3_HOME": str(home),
        "P3_DATABASE_URL": postgres_url,
        "P3_REDIS_URL": redis_url,
        "P3_STACK_PORTS": "free",
        "P3_STACK_SCRAPE_INTERVAL": "5s",
        "P3_API_JWT_SECRET": "s" * 48,
    }
    native = stack.NativeStack(home, env)
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        info = native.up(say=lambda _: None)
        ports = {name: entry["port"] for name, entry in info.items() if not name.startswith("_")}
        assert {"api-1", "api-2", "dagster-daemon", "prometheus"} <= set(ports)

        seasons = seasons_to_load(
            "demo", available_seasons("demo", ergast_dir=None, demo_seed=2024), None
        )
        client = DagsterGraphQLClient("127.0.0.1", port_number=ports["dagster-webserver"])
        run_id = client.submit_job_execution(
            "materialize_everything_job",
            repository_location_name="p3",
            repository_name="__repository__",
            tags={
                "dagster/asset_partition_range_start": str(seasons[0]),
                "dagster/asset_partition_range_end": str(seasons[-1]),
            },
        )
        status = wait_for(
            "the run to finish",
            lambda: (
                (s := client.get_run_status(run_id).value) in ("SUCCESS", "FAILURE", "CANCELED")
                and s
            ),
            timeout=RUN_TIMEOUT_S,
        )
        assert status == "SUCCESS", (home / "stack" / "logs").as_posix()

        # The run is in PostgreSQL, and it went through the queue the daemon drains.
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute("select status from runs where run_id = %s", (run_id,)).fetchone()
            events = {
                r[0]
                for r in conn.execute(
                    "select distinct dagster_event_type from event_logs where run_id = %s",
                    (run_id,),
                )
            }
        assert row == ("SUCCESS",)
        assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_SUCCESS"} <= events

        # The model is registered in the MLflow server, with the champion alias.
        mlflow_base = f"http://127.0.0.1:{ports['mlflow']}"
        champion = httpx.get(
            f"{mlflow_base}/api/2.0/mlflow/registered-models/alias",
            params={"name": "p3-race-outcome", "alias": "champion"},
            timeout=30,
        )
        assert champion.status_code == 200, champion.text
        assert champion.json()["model_version"]["version"] == "1"

        # Both API processes serve the published build.
        builds = {
            httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=30).json()["snapshot"][
                "build_id"
            ]
            for name in ("api-1", "api-2")
        }
        assert len(builds) == 1

        # Prometheus scraped the exporter and both API processes.
        prometheus = f"http://127.0.0.1:{ports['prometheus']}"
        success = wait_for(
            "the run's success in Prometheus",
            lambda: prometheus_query(
                prometheus,
                'p3_pipeline_last_success_timestamp_seconds{dagster_job="materialize_everything_job"}',
            ),
        )
        assert float(success[0]["value"][1]) > time.time() - RUN_TIMEOUT_S
        up = prometheus_query(prometheus, 'up{job="api"} == 1')
        assert len(up) == 2
        build = prometheus_query(prometheus, "p3_snapshot_build_info")
        assert {series["metric"]["build_id"] for series in build} == builds
        # The exporter exposes the queue depth, and the queue drains: sensors may enqueue runs
        # behind the job as its materialisations land (seen: 2 queued at the first scrape in a
        # fresh-clone run), and the daemon must start them all.
        wait_for(
            "the run queue to drain (p3_pipeline_runs_in_flight{status=QUEUED} == 0)",
            lambda: any(
                float(series["value"][1]) == 0
                for series in prometheus_query(
                    prometheus, 'p3_pipeline_runs_in_flight{status="QUEUED"}'
                )
            ),
            timeout=600,
        )
        # The alert rules are loaded (Prometheus evaluates them).
        rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=30).json()["data"]["groups"]
        assert {group["name"] for group in rules} == {"p3-slo-recording", "p3-api", "p3-pipeline"}
    finally:
        pids = [p.read_text().split()[0] for p in (home / "stack" / "pids").glob("*.pid")]
        native.down(say=lambda _: None)
    # Everything the stack started is gone; a process it did not start still runs.
    assert pids and not native.running()
    for pid in pids:
        assert stack.process_start_time(int(pid)) is None or stack._is_zombie(int(pid)), pid
    assert bystander.poll() is None
    bystander.kill()
    bystander.wait()


def test_stack_down_never_stops_a_process_that_reused_a_pid(tmp_path: Path) -> None:
    # A pid file whose process start time does not match is some other, later process.
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        native = stack.NativeStack(tmp_path, {})
        native.pids.mkdir(parents=True)
        (native.pids / "api-1.pid").write_text(f"{other.pid} 1\n")
        assert native.running() == []
        assert native.down(say=lambda _: None) == []
        assert other.poll() is None
        (native.pids / "api-1.pid").write_text(
            f"{other.pid} {stack.process_start_time(other.pid)}\n"
        )
        assert native.running() == ["api-1"]
        assert native.down(say=lambda _: None) == ["api-1"]
        other.wait(timeout=30)  # stopped (down reaps its own children, so no exit status here)
        assert stack.process_start_time(other.pid) is None
    finally:
        other.kill()
        other.wait()
