"""The weekly performance report over a real instance's runs, the real query cache and a real
API's metrics (its own metrics files, or a real Prometheus scraping it)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from p3_common.settings import Settings, load_settings
from p3_dagster.monitoring.report import (
    REPORT_KEY,
    api_metadata,
    api_traffic,
    api_traffic_from_prometheus,
    build_report_asset,
)
from tests.deploy.processes import serving
from tests.fixtures.servers import free_port
from tests.fixtures.snapshots import PublishedSnapshot


@dg.asset
def steady() -> None:
    """Succeeds."""


@dg.asset
def flaky() -> None:
    """Fails."""
    raise RuntimeError("transient")


def test_the_report_summarises_the_weeks_runs_with_a_plot() -> None:
    settings = load_settings()
    report = build_report_asset(settings)
    with dg.instance_for_test() as instance:
        for _ in range(3):
            assert dg.materialize([steady], instance=instance).success
        assert not dg.materialize([flaky], instance=instance, raise_on_error=False).success
        result = dg.materialize([report], instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("monitoring__performance_report")
    assert materialization.asset_key == REPORT_KEY
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["runs"] == 4  # the report's own run is not in it
    assert metadata["run_failure_rate"] == 0.25
    table = metadata["runs_by_job"]
    row = next(line for line in table.splitlines() if "__ephemeral_asset_job__" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][1:3] == ["4", "0.25"]
    assert "steady" in metadata["slowest_steps"]
    assert metadata["run_durations_plot"].startswith("![run durations](data:image/png;base64,")
    assert metadata["cache_hit_rate"] == 0.0  # nothing was queried through this cache


def test_the_report_is_weekly_and_sits_in_the_monitoring_group() -> None:
    report = build_report_asset(load_settings())
    spec = next(iter(report.specs))
    assert spec.group_name == "monitoring"
    assert "0 7 * * 1" in str(spec.automation_condition)


# --- the API's error rate ----------------------------------------------------------------------


@contextmanager
def api_with_errors(snapshot: Path, home: Path, log: Path) -> Iterator[tuple[str, str]]:
    """A real ``python -m p3_api`` whose live routes answer 503 (their Redis is down); yields its
    base URL and an admin key."""
    _, admin_key = SqliteStore(home / "api" / "keys.sqlite3").create("api_key", "t", Role.admin)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("P3_")} | {
        "P3_HOME": str(home),
        "P3_SERVING_DUCKDB_PATH": str(snapshot),
        "P3_API_PORT": str(port),
        "P3_API_WORKERS": "1",
        "P3_LIVE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    base = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "p3_api"], env, f"{base}/healthz", log):
        yield base, admin_key


def traffic(base: str, key: str, ok: int, errors: int, missing: int) -> None:
    """``ok`` 200s, ``errors`` 503s and ``missing`` 404s, and a few /metrics scrapes."""
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        for _ in range(ok):
            assert client.get("/v1/drivers").status_code == 200
        for _ in range(errors):
            assert client.get("/v1/live/races").status_code == 503
        for _ in range(missing):
            assert client.get("/v1/drivers/no_such_driver").status_code == 404
        for _ in range(3):
            assert client.get("/metrics").status_code == 200


def healthz_requests(base: str) -> float:
    """How many /healthz requests the API counted (the start-up polls)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "p3_api_requests_total" and sample.labels["route"] == "/healthz"
    )


@pytest.mark.slow
def test_the_report_reads_the_local_apis_5xx_rate(
    snapshot: PublishedSnapshot, dbt_manifest: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with api_with_errors(snapshot.path, home, tmp_path / "api.log") as (base, key):
        traffic(base, key, ok=6, errors=3, missing=2)
        polls = healthz_requests(base)
    report = build_report_asset(Settings(home=home), prometheus_url="")
    with dg.instance_for_test() as instance:
        result = dg.materialize([report], instance=instance)
    (materialization,) = result.asset_materializations_for_node("monitoring__performance_report")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    # 404s are the client's errors, not the API's; /metrics scrapes are not requests.
    assert metadata["api_5xx"] == 3
    assert metadata["api_requests"] == 6 + 3 + 2 + polls
    assert metadata["api_error_rate"] == round(3 / (11 + polls), 4)
    assert str(home / "api" / "prometheus") in metadata["api_metrics_source"]


@pytest.mark.slow
def test_the_report_reads_the_weeks_5xx_rate_from_prometheus(
    snapshot: PublishedSnapshot, dbt_manifest: Path, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not found: apt-get install prometheus")
    with api_with_errors(snapshot.path, tmp_path / "home", tmp_path / "api.log") as (base, key):
        # Every series exists before Prometheus's first scrape, so the window's increase is the
        # traffic below (the start-up polls and this first round are in the first sample).
        traffic(base, key, ok=1, errors=1, missing=1)
        port = free_port()
        config = tmp_path / "prometheus.yml"
        target = base.removeprefix("http://")
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs: [{{job_name: api, static_configs: [{{targets: ['{target}']}}]}}]\n"
        )
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        prometheus = f"http://127.0.0.1:{port}"
        with serving(argv, dict(os.environ), f"{prometheus}/-/ready", tmp_path / "prom.log"):

            def scraped(query: str) -> float:
                answer = httpx.get(
                    f"{prometheus}/api/v1/query", params={"query": query}, timeout=30
                ).json()
                result = answer["data"]["result"]
                return float(result[0]["value"][1]) if result else 0.0

            deadline = time.monotonic() + 60
            while scraped('count(p3_api_requests_total{status="503"})') < 1:
                assert time.monotonic() < deadline, "Prometheus never scraped the API"
                time.sleep(0.5)
            traffic(base, key, ok=20, errors=10, missing=10)
            deadline = time.monotonic() + 60
            while scraped('sum(p3_api_requests_total{status="503"})') < 11:
                assert time.monotonic() < deadline, "Prometheus never scraped the new traffic"
                time.sleep(0.5)
            time.sleep(5)  # a few more samples of the final counts
            result = api_traffic_from_prometheus(prometheus)
            unreachable = api_traffic(Settings(home=tmp_path), "http://127.0.0.1:1")
    assert result.source == f"prometheus {prometheus}"
    # increase() extrapolates the window's edges by the same factor for every series scraped
    # together, so the rate is 10 / 40 (not 20 / 40 with the 404s, nor lower with /metrics).
    assert result.error_rate == pytest.approx(10 / 40, abs=0.02)
    assert result.errors == pytest.approx(10, rel=0.25)
    assert isinstance(unreachable, str) and "P3_PROMETHEUS_URL" in unreachable


def test_without_api_metrics_the_report_says_where_they_come_from(tmp_path: Path) -> None:
    found = api_traffic(Settings(home=tmp_path), None)
    assert isinstance(found, str) and "\n" not in found
    assert "P3_PROMETHEUS_URL" in found and "make api" in found
    assert api_metadata(found) == {"api_metrics_source": found}
