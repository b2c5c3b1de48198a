"""A run never blocks the next one: runs left started by a dead ``p3`` process are failed and their
``duckdb_write`` slot freed; a run waiting for the slot can say who holds it."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import dagster as dg

from .job_run import HOST_TAG, PID_START_TAG, PID_TAG
from .processes import alive, other_p3_running

POOL = "duckdb_write"


LIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def recover_dead_runs(instance: dg.DagsterInstance, report: Callable[[str], None]) -> list[str]:
    """Fail the runs a dead ``p3`` process left started on this host, and free stale pool slots.

    A run is dead when the process recorded in its ``p3/pid`` tag is gone (or is another process
    that reused the pid). Slots held by runs that already ended are freed too. Returns the ids
    of the runs marked failed; one line per run is reported.
    """
    host = socket.gethostname()
    failed: list[str] = []
    live = instance.get_runs(
        filters=dg.RunsFilter(statuses=LIVE_STATUSES, tags={"p3/launched_by": "p3 materialize"})
    )
    legacy_orphans = any(PID_TAG not in run.tags for run in live) and not other_p3_running()
    for run in live:
        pid = int(run.tags.get(PID_TAG) or 0)
        if pid and run.tags.get(HOST_TAG) != host:
            continue  # another machine's run (a shared instance): its process is not ours to judge
        if pid == os.getpid() or (pid and alive(pid, run.tags.get(PID_START_TAG))):
            continue
        if not pid and not legacy_orphans:
            continue  # recorded before runs carried a pid: dead only if no p3 process is running
        instance.report_run_failed(
            run,
            f"The p3 process that ran it (pid {pid or 'unknown'} on {host}) died without "
            "ending it; marked failed by the next p3 materialize.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
        report(
            f"run {run.run_id[:8]} was left started by p3 (pid {pid or 'unknown'}), which died: "
            f"marked it failed and freed its {POOL} slot"
        )
    info = instance.event_log_storage.get_concurrency_info(POOL)
    holders = {slot.run_id for slot in info.claimed_slots} | {
        step.run_id for step in info.pending_steps
    }
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return failed


def waiting_for(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """What the run's pending step waits for, when it waits for a pool slot held by another run."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    mine = [s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None]
    if not mine:
        return None
    holders = [s for s in info.claimed_slots if s.run_id != run_id]
    if not holders:
        return f"waiting for a {POOL} slot for {mine[0].step_key}"
    holder = instance.get_run_by_id(holders[0].run_id)
    who = ""
    if holder is not None:
        pid = holder.tags.get(PID_TAG)
        who = f" ({holder.job_name}"
        who += f", {holder.tags.get('p3/launched_by', 'Dagster')} pid {pid}" if pid else ""
        who += f", status {holder.status.value})"
    return (
        f"waiting for the {POOL} slot held by run {holders[0].run_id[:8]}{who}, "
        f"step {holders[0].step_key}, before {mine[0].step_key}"
    )
