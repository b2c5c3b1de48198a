"""The P3 pipeline exporter: Prometheus metrics read, at each scrape, from the Dagster instance, the
published snapshot, the query cache and the MLflow registry (``p3 exporter``).

Every value is read fresh when Prometheus scrapes, so the exporter holds no state to lose. A source
that cannot be read (MLflow down, no snapshot yet) sets ``p3_exporter_source_up{source}`` to 0 and
leaves the other sources' metrics intact.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from p3_common.settings import Settings

logger = logging.getLogger("p3.exporter")

# Runs read per scrape: enough for every job's last success and recent durations.
RECENT_RUNS = 500
# Durations of the last N finished runs per job feed the median gauge.
# Jobs are labelled `dagster_job`: `job` is the label Prometheus gives every scraped target.
DURATION_WINDOW = 20

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


@dataclass(frozen=True)
class ExporterSources:
    """Where the exporter reads from: the Dagster instance, the code location's check keys, and
    the settings that name the snapshot, the cache and MLflow."""

    instance: Callable[[], dg.DagsterInstance]
    check_keys: Callable[[], Sequence[dg.AssetCheckKey]]
    settings: Settings


def _gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def run_metrics(instance: dg.DagsterInstance, now: float) -> Iterator[Metric]:
    """Last success per job, recent durations, runs in flight by status (the queue depth)."""
    records = instance.get_run_records(limit=RECENT_RUNS)
    last_success = _gauge(
        "p3_pipeline_last_success_timestamp_seconds",
        "End time of the job's last successful run (Unix time); its age is time() minus this.",
        ["dagster_job"],
    )
    last_duration = _gauge(
        "p3_pipeline_last_run_duration_seconds",
        "Wall time of the job's last finished run, by its final status.",
        ["dagster_job", "status"],
    )
    median_duration = _gauge(
        "p3_pipeline_run_duration_median_seconds",
        f"Median wall time of the job's last {DURATION_WINDOW} successful runs.",
        ["dagster_job"],
    )
    finished = _gauge(
        "p3_pipeline_recent_runs",
        f"Finished runs among the instance's last {RECENT_RUNS}, by job and status.",
        ["dagster_job", "status"],
    )
    seen_success: set[str] = set()
    seen_last: set[str] = set()
    durations: dict[str, list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    for record in records:  # newest first
        run = record.dagster_run
        if run.status not in FINISHED or record.end_time is None:
            continue
        job = run.job_name
        counts[(job, run.status.value)] = counts.get((job, run.status.value), 0) + 1
        elapsed = record.end_time - (record.start_time or record.create_timestamp.timestamp())
        if job not in seen_last:
            seen_last.add(job)
            last_duration.add_metric([job, run.status.value], elapsed)
        if run.status == dg.DagsterRunStatus.SUCCESS:
            if job not in seen_success:
                seen_success.add(job)
                last_success.add_metric([job], record.end_time)
            window = durations.setdefault(job, [])
            if len(window) < DURATION_WINDOW:
                window.append(elapsed)
    for job, window in durations.items():
        median_duration.add_metric([job], statistics.median(window))
    for (job, status), count in counts.items():
        finished.add_metric([job, status], count)
    in_flight = _gauge(
        "p3_pipeline_runs_in_flight",
        "Runs not finished yet, by status; status QUEUED is the run queue's depth.",
        ["status"],
    )
    for status in IN_FLIGHT:
        count = instance.get_runs_count(dg.RunsFilter(statuses=[status]))
        in_flight.add_metric([status.value], count)
    oldest_queued = _gauge(
        "p3_pipeline_oldest_queued_run_age_seconds",
        "How long the oldest queued run has waited (0 when the queue is empty).",
    )
    queued = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]), limit=1, ascending=True
    )
    oldest_queued.add_metric([], now - queued[0].create_timestamp.timestamp() if queued else 0.0)
    yield from (last_success, last_duration, median_duration, finished, in_flight, oldest_queued)


def asset_metrics(
    instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]
) -> Iterator[Metric]:
    """Last materialisation and freshness state per asset; the latest result of every check."""
    keys = list(instance.get_asset_keys())
    materialized = _gauge(
        "p3_asset_last_materialization_timestamp_seconds",
        "When the asset was last materialised (Unix time).",
        ["asset"],
    )
    for record in instance.get_asset_records(keys):
        entry = record.asset_entry
        event = entry.last_materialization_record
        if event is not None:
            materialized.add_metric([entry.asset_key.to_user_string()], event.timestamp)
    fresh = _gauge(
        "p3_asset_freshness_state",
        "The asset's freshness state from its freshness policy (1 for the current state).",
        ["asset", "state"],
    )
    for key, state in instance.get_freshness_state_records(keys).items():
        fresh.add_metric([key.to_user_string(), state.freshness_state.value], 1)
    failing = _gauge(
        "p3_asset_check_failing",
        "1 when the check's latest evaluation failed, 0 when it passed (by severity).",
        ["asset", "check", "severity"],
    )
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    for check_key, execution in latest.items():
        evaluation = _evaluation(execution)
        if evaluation is None:
            continue
        failing.add_metric(
            [check_key.asset_key.to_user_string(), check_key.name, evaluation.severity.value],
            0 if evaluation.passed else 1,
        )
    yield from (materialized, fresh, failing)


def _evaluation(execution: object) -> dg.AssetCheckEvaluation | None:
    event = getattr(execution, "event", None)
    dagster_event = getattr(event, "dagster_event", None) if event is not None else None
    data = getattr(dagster_event, "event_specific_data", None)
    return data if isinstance(data, dg.AssetCheckEvaluation) else None


def snapshot_metrics(settings: Settings) -> Iterator[Metric]:
    """The published snapshot's build and when it was published (its age is time() minus that)."""
    from p3_common.snapshot import read_snapshot

    snapshot = read_snapshot(settings.serving_duckdb_path)
    published = _gauge(
        "p3_snapshot_published_timestamp_seconds",
        "When the published snapshot was built (Unix time).",
    )
    published.add_metric([], snapshot.published_at.timestamp())
    build = _gauge("p3_snapshot_build_info", "The published build (value 1).", ["build_id"])
    build.add_metric([snapshot.build_id], 1)
    yield from (published, build)


def cache_metrics(settings: Settings) -> Iterator[Metric]:
    """Query-cache hits, misses, entries and memory, summed over every process that used it."""
    from p3_query.cache.factory import open_cache

    with open_cache(settings, background_flush=False) as cache:
        stats = cache.stats(top=0)
    labels = ["backend"]
    hits = CounterMetricFamily("p3_cache_hits", "Query-cache hits.", labels=labels)
    hits.add_metric([stats.backend], stats.hits)
    misses = CounterMetricFamily("p3_cache_misses", "Query-cache misses.", labels=labels)
    misses.add_metric([stats.backend], stats.misses)
    memory = _gauge("p3_cache_memory_bytes", "Bytes the cached payloads take.", labels)
    memory.add_metric([stats.backend], stats.memory_bytes)
    entries = _gauge("p3_cache_entries", "Cached payloads.", labels)
    entries.add_metric([stats.backend], stats.entries)
    yield from (hits, misses, memory, entries)


def mlflow_metrics(settings: Settings) -> Iterator[Metric]:
    """When the registered model's champion version was registered (its age is time() minus it)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ml.predict import CHAMPION_ALIAS, MODEL_NAME

    champion = _gauge(
        "p3_mlflow_champion_timestamp_seconds",
        "When the version the champion alias points at was registered (Unix time).",
        ["model", "version"],
    )
    uri = settings.mlflow_tracking_uri or ""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        yield champion  # no local store yet; opening one would create it
        return
    client = MlflowClient(tracking_uri=uri)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    else:
        champion.add_metric([MODEL_NAME, str(version.version)], version.creation_timestamp / 1000)
    yield champion


class PipelineCollector(Collector):
    """Collects every source at scrape time; one failing source does not hide the others."""

    def __init__(self, sources: ExporterSources, clock: Callable[[], float] = time.time) -> None:
        self.sources = sources
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        # Nothing: describing would read every source once at registration.
        return []

    def collect(self) -> Iterator[Metric]:
        up = _gauge(
            "p3_exporter_source_up",
            "1 when the source was read at this scrape, else 0.",
            ["source"],
        )
        took = _gauge(
            "p3_exporter_source_seconds", "Time reading the source at this scrape.", ["source"]
        )
        settings = self.sources.settings
        now = self.clock()
        readers: list[tuple[str, Callable[[], Iterator[Metric]]]] = [
            ("dagster_runs", lambda: run_metrics(self.sources.instance(), now)),
            (
                "dagster_assets",
                lambda: asset_metrics(self.sources.instance(), self.sources.check_keys()),
            ),
            ("snapshot", lambda: snapshot_metrics(settings)),
            ("cache", lambda: cache_metrics(settings)),
            ("mlflow", lambda: mlflow_metrics(settings)),
        ]
        for source, read in readers:
            started = time.perf_counter()
            try:
                metrics = list(read())
            except Exception as exc:  # reported as source_up 0 and logged; the scrape goes on
                logger.warning("p3 exporter: %s unreadable: %s", source, " ".join(str(exc).split()))
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
                yield from metrics
            took.add_metric([source], time.perf_counter() - started)
        yield up
        yield took


def definition_check_keys(settings: Settings) -> Callable[[], Sequence[dg.AssetCheckKey]]:
    """The code location's asset check keys, loaded from the definitions once (on first scrape)."""
    keys: list[dg.AssetCheckKey] = []

    def load() -> Sequence[dg.AssetCheckKey]:
        if not keys:
            from ..definitions import build_definitions

            keys.extend(build_definitions(settings).resolve_asset_graph().asset_check_keys)
        return keys

    return load


class ExporterError(RuntimeError):
    """The exporter cannot start; the message names what to fix, in one line."""


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """DAGSTER_HOME's instance (default ``$P3_HOME/dagster``, the local one), or ExporterError."""
    import os

    from ..doctor import first_line

    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    if not (home / "dagster.yaml").exists():
        raise ExporterError(
            f"no Dagster instance at {home} (no dagster.yaml): set DAGSTER_HOME to the stack's "
            "instance folder, or run `p3 dagster-home` for the local one"
        )
    try:
        return dg.DagsterInstance.from_config(str(home))
    except Exception as exc:  # Dagster raises many types here; each becomes one line
        raise ExporterError(f"{home}/dagster.yaml does not load: {first_line(exc)}") from None


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve /metrics on ``host:port`` until interrupted."""
    from prometheus_client import CollectorRegistry, start_http_server

    instance = open_instance(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    registry = CollectorRegistry()
    registry.register(
        PipelineCollector(
            ExporterSources(lambda: instance, definition_check_keys(settings), settings)
        )
    )
    server, thread = start_http_server(port, addr=host, registry=registry)
    logger.info("p3 exporter on http://%s:%s/metrics", host, port)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
