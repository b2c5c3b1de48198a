"""The run-failure sensor: every failed run raises an alert (log always, webhook when configured)."""

# No `from __future__ import annotations`: Dagster inspects the sensor function's context hint.

from typing import Optional, Protocol

import dagster as dg

from ...lib.alerts import RunFailureAlert, send_alert


class ChainedError(Protocol):
    """What a Dagster step error carries: a message and the error that caused it."""

    @property
    def message(self) -> str: ...

    @property
    def cause(self) -> Optional["ChainedError"]: ...


def root_cause(error: ChainedError) -> str:
    """The innermost error message: the user's exception, not Dagster's step-execution wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def alert_from_context(
    context: dg.RunFailureSensorContext, ui_url: str | None = None
) -> RunFailureAlert:
    """The alert for a failed run, from what the failure sensor knows about it; with the Dagster
    UI's base URL (``P3_DAGSTER_UI_URL``) it links to the run's page."""
    run = context.dagster_run
    failed_steps = sorted(
        {event.step_key for event in context.get_step_failure_events() if event.step_key}
    )
    error = context.failure_event.message or "run failed"
    step_errors = [
        root_cause(event.event_specific_data.error)
        for event in context.get_step_failure_events()
        if event.event_specific_data is not None and event.event_specific_data.error is not None
    ]
    return RunFailureAlert(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_steps=failed_steps,
        error=step_errors[0] if step_errors else error,
        partition=run.tags.get("dagster/partition")
        or run.tags.get("dagster/asset_partition_range_start"),
        run_url=f"{ui_url.rstrip('/')}/runs/{run.run_id}" if ui_url else None,
    )


def build_run_failure_alert_sensor(
    webhook_url: str | None, ui_url: str | None = None
) -> dg.SensorDefinition:
    """``run_failure_alert_sensor``: POSTs to ``P3_ALERT_WEBHOOK`` when set; logs either way."""

    @dg.run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description=(
            "Alerts on every failed run of this code location: a structured JSON log line, and a "
            "JSON POST to P3_ALERT_WEBHOOK when it is set."
        ),
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
        """Sends an alert for every failed run of this code location: a structured JSON log line,
        and a JSON POST to P3_ALERT_WEBHOOK when it is set."""
        alert = alert_from_context(context, ui_url)
        context.log.error(alert.summary())
        send_alert(alert, webhook_url)

    return run_failure_alert_sensor
