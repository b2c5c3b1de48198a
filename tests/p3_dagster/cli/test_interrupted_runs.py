"""An interrupted ``p3 materialize`` never blocks the next one (Ctrl-C, SIGTERM, kill -9 of its group)."""

from __future__ import annotations

import signal
from pathlib import Path

import dagster as dg
import pytest

from tests.p3_dagster.cli.p3_process import ONE_TABLE

pytestmark = pytest.mark.slow

STEP_STARTED = "▶ raw__ergast__circuits"


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


def _assert_nothing_holds_the_pool(home: Path) -> None:
    with _instance(home) as instance:
        info = instance.event_log_storage.get_concurrency_info("duckdb_write")
        assert info.claimed_slots == []
        assert info.pending_steps == []
        started = instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
            )
        )
        assert started == []


@pytest.mark.parametrize(
    ("signum", "status"),
    [
        (signal.SIGINT, dg.DagsterRunStatus.CANCELED),
        (signal.SIGTERM, dg.DagsterRunStatus.CANCELED),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_ends_the_run_and_frees_its_slot(
    start_p3, isolated_p3_env: Path, signum: int, status: dg.DagsterRunStatus
) -> None:
    first = start_p3("materialize", "--select", ONE_TABLE)
    first.wait_for(STEP_STARTED, timeout=120)
    first.signal_group(signum)
    code = first.wait(timeout=20)

    assert code != 0
    assert "interrupted" in first.output
    with _instance(isolated_p3_env) as instance:
        (run,) = instance.get_runs()
        assert run.status == status
    _assert_nothing_holds_the_pool(isolated_p3_env)

    second = start_p3("materialize", "--select", ONE_TABLE)
    assert second.wait(timeout=120) == 0, second.output
    assert "done" in second.output


def test_run_of_a_killed_process_is_failed_and_its_slot_freed_on_next_start(
    start_p3, isolated_p3_env: Path
) -> None:
    first = start_p3("materialize", "--select", ONE_TABLE)
    first.wait_for(STEP_STARTED, timeout=120)
    first.signal_group(signal.SIGKILL)
    first.wait(timeout=10)

    second = start_p3("materialize", "--select", ONE_TABLE)
    assert second.wait(timeout=120) == 0, second.output
    recovered = [line for line in second.lines if "died" in line]
    assert len(recovered) == 1, second.output
    with _instance(isolated_p3_env) as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
        dead = [run for run in runs.values() if run.status == dg.DagsterRunStatus.FAILURE]
        assert len(dead) == 1
        assert dead[0].run_id[:8] in recovered[0]
    _assert_nothing_holds_the_pool(isolated_p3_env)


def test_run_waiting_for_the_pool_says_what_it_waits_for(start_p3) -> None:
    first = start_p3("materialize", "--select", ONE_TABLE)
    first.wait_for(STEP_STARTED, timeout=120)
    # A stopped process is alive and keeps its slot: the second run must wait, and say so.
    first.signal_group(signal.SIGSTOP)
    try:
        second = start_p3("materialize", "--select", ONE_TABLE)
        waiting = second.wait_for("waiting for", timeout=60)
    finally:
        first.signal_group(signal.SIGCONT)

    assert "duckdb_write" in waiting
    assert first.proc.pid != 0 and f"pid {first.proc.pid}" in waiting
    assert first.wait(timeout=120) == 0, first.output
    assert second.wait(timeout=120) == 0, second.output
