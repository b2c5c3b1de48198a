"""The pipeline exporter reads a real Dagster instance, snapshot state, cache and MLflow store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from p3_common.settings import Settings, load_settings
from p3_dagster.monitoring.exporter import ExporterSources, PipelineCollector


@dg.asset
def tiny() -> int:
    """A one-row asset."""
    return 1


@dg.asset_check(asset=tiny)
def tiny_is_negative() -> dg.AssetCheckResult:
    """Fails: a blocking-severity check result the exporter must report."""
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)


@dg.asset
def broken() -> None:
    """Always fails."""
    raise RuntimeError("boom")


JOB = "__ephemeral_asset_job__"  # what dg.materialize names its runs
CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("tiny"), "tiny_is_negative")


def queued_origin() -> RemoteJobOrigin:
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__), location_name="tests"
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "queued_job")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def scrape(instance: dg.DagsterInstance, settings: Settings) -> dict[str, list[tuple[dict, float]]]:
    registry = CollectorRegistry()
    registry.register(
        PipelineCollector(ExporterSources(lambda: instance, lambda: [CHECK_KEY], settings))
    )
    out: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(metrics: dict, name: str, **labels: str) -> float:
    matches = [
        v for lab, v in metrics.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    ]
    assert len(matches) == 1, (name, labels, metrics.get(name))
    return matches[0]


def test_runs_checks_and_the_queue_are_read_from_the_instance(instance: dg.DagsterInstance) -> None:
    before = time.time()
    assert dg.materialize([tiny, tiny_is_negative], instance=instance).success
    assert not dg.materialize([broken], instance=instance, raise_on_error=False).success
    # A run waiting in the queue, as the QueuedRunCoordinator stores a submitted run.
    instance.add_run(
        dg.DagsterRun(
            job_name="queued_job",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.QUEUED,
            remote_job_origin=queued_origin(),
        )
    )

    metrics = scrape(instance, load_settings())

    success = value(metrics, "p3_pipeline_last_success_timestamp_seconds", dagster_job=JOB)
    assert before <= success <= time.time()
    assert value(metrics, "p3_pipeline_recent_runs", dagster_job=JOB, status="SUCCESS") == 1
    assert value(metrics, "p3_pipeline_recent_runs", dagster_job=JOB, status="FAILURE") == 1
    # The last finished run of the job is the failed one.
    assert (
        value(metrics, "p3_pipeline_last_run_duration_seconds", dagster_job=JOB, status="FAILURE")
        > 0
    )
    assert value(metrics, "p3_pipeline_runs_in_flight", status="QUEUED") == 1
    assert value(metrics, "p3_pipeline_oldest_queued_run_age_seconds") >= 0
    assert value(metrics, "p3_asset_check_failing", check="tiny_is_negative", severity="ERROR") == 1
    assert value(metrics, "p3_asset_last_materialization_timestamp_seconds", asset="tiny") >= before
    assert value(metrics, "p3_exporter_source_up", source="dagster_runs") == 1
    assert value(metrics, "p3_exporter_source_up", source="dagster_assets") == 1
    assert value(metrics, "p3_exporter_source_up", source="cache") == 1


def test_a_missing_snapshot_is_one_source_down_and_the_rest_still_reported(
    instance: dg.DagsterInstance,
) -> None:
    metrics = scrape(instance, load_settings())
    assert value(metrics, "p3_exporter_source_up", source="snapshot") == 0
    assert "p3_snapshot_published_timestamp_seconds" not in metrics
    assert value(metrics, "p3_exporter_source_up", source="dagster_runs") == 1


def test_the_champion_age_comes_from_the_mlflow_registry(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from ml.predict import CHAMPION_ALIAS, MODEL_NAME

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model(MODEL_NAME)
    for _ in range(2):
        version = client.create_model_version(MODEL_NAME, source=str(tmp_path / "model"))
    client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    metrics = scrape(instance, load_settings())

    registered = value(metrics, "p3_mlflow_champion_timestamp_seconds", model=MODEL_NAME)
    assert [lab["version"] for lab, _ in metrics["p3_mlflow_champion_timestamp_seconds"]] == ["1"]
    assert registered == pytest.approx(
        client.get_model_version(MODEL_NAME, "1").creation_timestamp / 1000
    )
    assert str(version.version) == "2"  # the newest version is not the champion
    assert value(metrics, "p3_exporter_source_up", source="mlflow") == 1


def test_the_exporter_without_its_instance_database_stops_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from typer.testing import CliRunner

    from p3_common.settings import REPO_ROOT
    from p3_dagster.cli import app

    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "deploy/dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("P3_DAGSTER_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["exporter", "--port", "0"])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message
    assert (
        message
        == f"p3 exporter: {home}/dagster.yaml does not load: P3_DAGSTER_DATABASE_URL is not set"
    )


def test_the_exporter_without_any_instance_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from p3_dagster.cli import app

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(app, ["exporter", "--port", "0"])
    assert result.exit_code == 2
    assert "no Dagster instance at" in result.stderr and "p3 dagster-home" in result.stderr
