"""deploy/dagster.yaml: the production instance on a real PostgreSQL, its queue and its limits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from deploy import stack

REPO = Path(__file__).resolve().parents[2]


def production_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "deploy/dagster.yaml", home / "dagster.yaml")
    return home


def test_the_production_instance_queues_runs_in_postgres_with_its_limits(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    monkeypatch.setenv("P3_DAGSTER_DATABASE_URL", stack.with_driver(postgres_url, "psycopg2"))
    with dg.DagsterInstance.from_config(str(production_home(tmp_path))) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1  # duckdb_write: one writer
        limits = {
            (lim["key"], lim.get("value")): lim["limit"]
            for lim in config.run_queue_config.tag_concurrency_limits
        }
        assert limits == {("dagster/backfill", None): 1, ("p3/workload", "training"): 1}
        assert config.run_queue_config.max_user_code_failure_retries > 0
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_monitoring_max_runtime_seconds == 7200
        run = instance.create_run_for_job(
            dg.GraphDefinition("noop", node_defs=[]).to_job(), run_id=None
        )
    # The run is in PostgreSQL, where every process of the stack reads it.
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("select run_id from runs where run_id = %s", (run.run_id,)).fetchone()
    assert row == (run.run_id,)


def test_the_daemon_without_its_database_url_stops_naming_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(production_home(tmp_path))}
    daemon = Path(sys.executable).parent / "dagster-daemon"
    done = subprocess.run(
        [str(daemon), "run"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert 'environment variable "P3_DAGSTER_DATABASE_URL" which is not set' in done.stderr


def test_the_stack_refuses_to_start_on_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    env = {"P3_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nope", "P3_HOME": str(tmp_path)}
    with pytest.raises(stack.StackError) as raised:
        stack.NativeStack(tmp_path, env).up(say=lambda _: None)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "postgres (P3_DATABASE_URL): cannot connect to postgresql://postgres@127.0.0.1:1/nope"
    )
    assert not (tmp_path / "stack" / "pids").exists()  # nothing was started


def test_the_stack_refuses_to_start_without_p3_database_url(tmp_path: Path) -> None:
    with pytest.raises(stack.StackError, match="P3_DATABASE_URL is not set"):
        stack.NativeStack(tmp_path, {"P3_HOME": str(tmp_path)}).up(say=lambda _: None)
