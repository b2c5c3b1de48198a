"""The run-duration anomaly sensor: every successful run, and each of its steps, against its own
history; a slow one is alerted like a failed run (log line, and P3_ALERT_WEBHOOK when set)."""

# No `from __future__ import annotations`: Dagster inspects the sensor function's context hint.

import dagster as dg

from ..lib.alerts import send_alert
from .anomaly import DurationAnomaly, RunSlowAlert, slow_outlier

# Successful runs of the same job a duration is compared with.
HISTORY_RUNS = 20


def run_duration(record: dg.RunRecord) -> float | None:
    """Wall time of a finished run, or None when it never started."""
    if record.start_time is None or record.end_time is None:
        return None
    return record.end_time - record.start_time


def step_durations(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall time of each step of the run that finished."""
    return {
        stats.step_key: stats.end_time - stats.start_time
        for stats in instance.get_run_step_stats(run_id)
        if stats.start_time is not None and stats.end_time is not None
    }


def find_anomalies(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    *,
    history_runs: int = HISTORY_RUNS,
    min_excess_seconds: float = 5.0,
) -> list[DurationAnomaly]:
    """The run's and its steps' durations that are far above the job's last successful runs."""
    record = instance.get_run_record_by_id(run.run_id)
    if record is None:
        return []
    past = [
        past_record
        for past_record in instance.get_run_records(
            dg.RunsFilter(job_name=run.job_name, statuses=[dg.DagsterRunStatus.SUCCESS]),
            limit=history_runs + 1,
        )
        if past_record.dagster_run.run_id != run.run_id
    ][:history_runs]
    found = []
    seconds = run_duration(record)
    history = [d for d in (run_duration(r) for r in past) if d is not None]
    if seconds is not None:
        anomaly = slow_outlier("run", seconds, history, min_excess_seconds=min_excess_seconds)
        if anomaly is not None:
            found.append(anomaly)
    past_steps = [step_durations(instance, r.dagster_run.run_id) for r in past]
    for step, step_seconds in sorted(step_durations(instance, run.run_id).items()):
        step_history = [steps[step] for steps in past_steps if step in steps]
        anomaly = slow_outlier(
            step, step_seconds, step_history, min_excess_seconds=min_excess_seconds
        )
        if anomaly is not None:
            found.append(anomaly)
    return found


def build_run_duration_anomaly_sensor(
    webhook_url: str | None,
    ui_url: str | None = None,
    *,
    history_runs: int = HISTORY_RUNS,
    min_excess_seconds: float = 5.0,
) -> dg.SensorDefinition:
    """``run_duration_anomaly_sensor``: alerts on successful runs that were anomalously slow."""

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="run_duration_anomaly_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description=(
            "Compares every successful run's duration, and each step's, with the job's last "
            f"{history_runs} successful runs (median and MAD); an anomalously slow one is alerted "
            "like a failed run: a JSON log line, and a POST to P3_ALERT_WEBHOOK when it is set."
        ),
    )
    def run_duration_anomaly_sensor(context: dg.RunStatusSensorContext) -> None:
        """Alerts when a successful run, or one of its steps, took far longer than usual."""
        run = context.dagster_run
        anomalies = find_anomalies(
            context.instance,
            run,
            history_runs=history_runs,
            min_excess_seconds=min_excess_seconds,
        )
        if not anomalies:
            return
        alert = RunSlowAlert(
            run_id=run.run_id,
            job_name=run.job_name,
            anomalies=anomalies,
            run_url=f"{ui_url.rstrip('/')}/runs/{run.run_id}" if ui_url else None,
        )
        context.log.warning(alert.summary())
        send_alert(alert, webhook_url)  # type: ignore[arg-type]  # same as_dict/summary shape

    return run_duration_anomaly_sensor
