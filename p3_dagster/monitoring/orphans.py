"""Runs whose worker process is gone: it was killed mid-run (kill -9, out of memory, a restart).

Dagster's run monitoring cannot see this with the DefaultRunLauncher (it has no worker health
check), so such a run would stay STARTED, holding its ``duckdb_write`` slot, until the 2-hour
runtime cap. Runs launched by the code server execute on its host, and the worker reports its pid
when it starts; the sensor here fails a run whose worker pid no longer runs (or now belongs to a
process started at another time), so the queue moves on and run retries can relaunch it.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor function's context hint.

import os
import re
import time
from pathlib import Path

import dagster as dg

# Set by the code server on the runs it launches (DefaultRunLauncher over gRPC).
GRPC_TAG = ".dagster/grpc_info"
STARTED_MESSAGE = re.compile(r"^Started process for run \(pid: (\d+)\)")
# A run worker starts at most this long before it reports its pid.
SPAWN_WINDOW_S = 600.0
# How long a started run may go without a reported worker before it is judged: the default of
# P3_ORPHAN_GRACE_SECONDS (the deployment's value comes from settings).
GRACE_S = 120.0


def process_started_at(pid: int) -> float | None:
    """When ``pid`` started (Unix time), from /proc; None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # exited, not yet reaped
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def worker_of(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid the run's worker reported, and when it reported it."""
    found = None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        match = STARTED_MESSAGE.match((event.message if event else None) or "")
        if match:
            found = (int(match.group(1)), entry.timestamp)
    return found


def worker_is_alive(pid: int, reported_at: float) -> bool:
    """Whether the process ``pid`` is the worker that reported at ``reported_at`` (same pid, and
    started just before it reported, so a recycled pid does not count)."""
    started = process_started_at(pid)
    return started is not None and reported_at - SPAWN_WINDOW_S <= started <= reported_at + 5


def orphaned_runs(
    instance: dg.DagsterInstance, now: float, grace_s: float = GRACE_S
) -> list[tuple[dg.DagsterRun, int]]:
    """Started runs of this host's code server, started more than ``grace_s`` ago, whose worker
    process is gone, with its pid."""
    out = []
    for record in instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=100
    ):
        run = record.dagster_run
        if GRPC_TAG not in run.tags:
            continue  # not launched by a code server (e.g. `p3 materialize`, which recovers its own)
        if now - (record.start_time or record.create_timestamp.timestamp()) < grace_s:
            continue
        worker = worker_of(instance, run.run_id)
        if worker is not None and not worker_is_alive(*worker):
            out.append((run, worker[0]))
    return out


def fail_orphaned_runs(
    instance: dg.DagsterInstance, now: float | None = None, grace_s: float = GRACE_S
) -> list[str]:
    """Mark every orphaned run failed (run retries may relaunch it); the failed run ids."""
    failed = []
    for run, pid in orphaned_runs(instance, time.time() if now is None else now, grace_s):
        instance.report_run_failed(
            run,
            f"The run worker (pid {pid}) is gone: it was killed mid-run. The run is marked "
            "failed so the queue and the duckdb_write pool move on.",
        )
        failed.append(run.run_id)
    return failed


def build_orphaned_run_sensor(
    grace_seconds: float = GRACE_S, interval_seconds: int = 60
) -> dg.SensorDefinition:
    """``orphaned_run_sensor``, judging runs started more than ``grace_seconds`` ago, every
    ``interval_seconds`` (P3_ORPHAN_GRACE_SECONDS, P3_ORPHAN_SENSOR_INTERVAL_SECONDS)."""

    @dg.sensor(
        name="orphaned_run_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description=(
            "Fails started runs whose worker process is gone (killed mid-run), which run "
            "monitoring cannot detect with the default run launcher; run retries may then "
            "relaunch them."
        ),
    )
    def orphaned_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        """Fails started runs whose worker process is gone (killed mid-run)."""
        failed = fail_orphaned_runs(context.instance, grace_s=grace_seconds)
        return dg.SkipReason(
            f"marked failed: {', '.join(failed)}" if failed else "every started run has its worker"
        )

    return orphaned_run_sensor
