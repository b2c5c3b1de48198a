"""Run-duration anomalies: the median/MAD rule, and the sensor on real runs of a real instance."""

# No `from __future__ import annotations`: Dagster reads the asset's config annotation.

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from p3_dagster.monitoring.anomaly import slow_outlier
from p3_dagster.monitoring.sensors import build_run_duration_anomaly_sensor, find_anomalies

HISTORY = [60.0, 62.0, 58.0, 61.0, 59.0, 75.0, 60.5]  # one slow run already in the history


def test_a_run_within_its_usual_spread_is_not_an_anomaly() -> None:
    assert slow_outlier("run", 64.0, HISTORY) is None


def test_a_run_far_above_its_history_is_an_anomaly_despite_an_earlier_slow_run() -> None:
    anomaly = slow_outlier("run", 120.0, HISTORY)
    assert anomaly is not None
    assert anomaly.median == 60.5 and anomaly.history == len(HISTORY)
    assert anomaly.score > 3.5
    assert "2.0x its median 60.5s" in anomaly.describe()


def test_a_short_history_is_not_judged() -> None:
    assert slow_outlier("run", 600.0, HISTORY[:4]) is None


def test_identical_past_durations_still_need_a_real_slowdown() -> None:
    flat = [10.0] * 8
    assert slow_outlier("step", 10.05, flat, min_excess_seconds=0.0) is None
    assert slow_outlier("step", 30.0, flat) is not None


def test_sub_second_jitter_of_a_fast_step_never_alerts() -> None:
    fast = [0.10, 0.11, 0.10, 0.12, 0.10]
    assert slow_outlier("step", 0.9, fast) is None  # 9x slower, but 0.8 s
    assert slow_outlier("step", 0.9, fast, min_excess_seconds=0.5) is not None


class SleepConfig(dg.Config):
    seconds: float


@dg.asset
def work(config: SleepConfig) -> None:
    """Sleeps: its step duration is what the test controls."""
    time.sleep(config.seconds)


@dg.asset(deps=[work])
def after() -> None:
    """A step that is always fast."""


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def run(instance: dg.DagsterInstance, seconds: float) -> dg.ExecuteInProcessResult:
    config = {"ops": {"work": {"config": {"seconds": seconds}}}}
    result = dg.materialize([work, after], instance=instance, run_config=config)
    assert result.success
    return result


def evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, result) -> None:  # noqa: ANN001
    success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=success,
    )
    sensor(context)


def test_the_sensor_alerts_on_a_deliberately_slowed_run_and_names_the_slow_step(
    webhook: str,
) -> None:
    sensor = build_run_duration_anomaly_sensor(
        webhook, "http://dagster.example.invalid:3000", min_excess_seconds=1.0
    )
    with dg.instance_for_test() as instance:
        for _ in range(6):
            usual = run(instance, 0.05)
        evaluate(sensor, instance, usual)
        assert _Hook.received == []  # an ordinary run is not an anomaly

        slowed = run(instance, 4.0)
        evaluate(sensor, instance, slowed)

    (payload,) = _Hook.received
    assert payload["event"] == "p3.run_slow"
    assert payload["run_id"] == slowed.run_id
    assert payload["slow_steps"] == ["work"]  # `after` was as fast as ever
    assert {a["subject"] for a in payload["anomalies"]} == {"run", "work"}
    assert payload["run_url"] == f"http://dagster.example.invalid:3000/runs/{slowed.run_id}"
    assert "anomalously slow" in payload["text"] and "work took" in payload["text"]


def test_the_first_runs_of_a_job_have_no_history_to_be_judged_on() -> None:
    with dg.instance_for_test() as instance:
        first = run(instance, 0.05)
        slowed = run(instance, 2.0)
        assert find_anomalies(instance, slowed.dagster_run, min_excess_seconds=0.5) == []
        assert first.success
