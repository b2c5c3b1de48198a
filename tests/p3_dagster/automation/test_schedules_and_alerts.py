"""Schedules pick the current season; run-failure alerts are logged and POSTed to a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import httpx
import pytest
from dagster._utils.schedules import cron_string_iterator  # no public "next tick" helper in 1.13

from p3_common.settings import load_settings
from p3_dagster.defs import ingestion
from p3_dagster.defs.automation.sensors import build_run_failure_alert_sensor
from p3_dagster.defs.resources import build_resources
from p3_dagster.lib.alerts import RunFailureAlert, send_alert

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the definitions load the manifest


def schedule(name: str) -> tuple[dg.ScheduleDefinition, dg.RepositoryDefinition]:
    """A schedule with the repository it targets (partitioned jobs resolve partitions through it)."""
    settings = load_settings()
    defs = dg.Definitions.merge(
        ingestion.build_defs(settings, [2023, 2024]),
        dg.Definitions(resources=build_resources(settings)),
    )
    return defs.resolve_schedule_def(name), defs.get_repository_def()


def next_ticks(schedule: dg.ScheduleDefinition, after: datetime, count: int = 2) -> list[datetime]:
    """The schedule's next ``count`` ticks after ``after``, as the scheduler computes them."""
    ticks = cron_string_iterator(
        after.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    return [next(ticks) for _ in range(count)]


def test_weekly_schedule_runs_mondays_at_six_utc_for_the_current_season() -> None:
    weekly, repository = schedule("ingest_current_season_weekly_schedule")
    tuesday = datetime(2024, 7, 2, 12, tzinfo=UTC)
    assert next_ticks(weekly, tuesday) == [
        datetime(2024, 7, 8, 6, tzinfo=UTC),
        datetime(2024, 7, 15, 6, tzinfo=UTC),
    ]
    when = datetime(2024, 7, 1, 6, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=repository
    ) as context:
        request = weekly.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2024"


def test_schedules_skip_a_season_that_is_not_configured() -> None:
    daily, repository = schedule("ingest_current_season_daily_schedule")
    # Daily at 07:00 UTC during the season (March-December); silent in the winter break.
    assert next_ticks(daily, datetime(2024, 6, 30, 8, tzinfo=UTC)) == [
        datetime(2024, 7, 1, 7, tzinfo=UTC),
        datetime(2024, 7, 2, 7, tzinfo=UTC),
    ]
    assert next_ticks(daily, datetime(2024, 12, 31, 8, tzinfo=UTC), 1) == [
        datetime(2025, 3, 1, 7, tzinfo=UTC)
    ]
    with dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 5, 3, 7, tzinfo=UTC), repository_def=repository
    ) as context:
        data = daily.evaluate_tick(context)
    assert not data.run_requests
    assert "2026" in (data.skip_message or "")


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received, _Hook.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


ALERT = RunFailureAlert(
    run_id="0123456789abcdef",
    job_name="ingest_ergast_job",
    failed_steps=["raw__ergast__results"],
    error="[dump] table 'results', row 12, column 'grid': value 'P1' is not a valid integer",
    partition="2024",
    run_url=None,
)


def test_alerts_are_logged_and_posted_with_a_readable_summary(
    webhook: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert send_alert(ALERT, webhook) is True
    (payload,) = _Hook.received
    assert payload["event"] == "p3.run_failed" and payload["failed_steps"] == [
        "raw__ergast__results"
    ]
    assert "column 'grid'" in payload["text"] and "[2024]" in payload["text"]
    assert json.loads(caplog.records[-1].getMessage())["run_id"] == "0123456789abcdef"


def test_without_a_webhook_the_alert_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert send_alert(ALERT, None) is False
    assert "p3.run_failed" in caplog.text


def test_a_failing_webhook_is_an_error_not_silence(webhook: str) -> None:
    _Hook.status = 500
    with pytest.raises(httpx.HTTPStatusError):
        send_alert(ALERT, webhook)


def test_the_failure_sensor_alerts_on_a_real_failed_run(webhook: str) -> None:
    @dg.asset
    def broken() -> None:
        raise ValueError("boom: bad input in results.csv")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = build_run_failure_alert_sensor(webhook, "http://dagster.example.invalid:3000/")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    ).for_run_failure()
    sensor(context)
    (payload,) = _Hook.received
    assert payload["failed_steps"] == ["broken"]
    assert "boom: bad input" in payload["error"]
    assert payload["run_url"] == f"http://dagster.example.invalid:3000/runs/{result.run_id}"
