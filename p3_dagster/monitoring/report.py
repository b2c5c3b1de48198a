"""The weekly ``monitoring/performance_report`` asset: run durations and outcomes, step hot spots,
the query cache's hit rate and latency, and the API's error rate over the last seven days, with
plots, in the Dagster UI."""

# No `from __future__ import annotations`: Dagster inspects the asset function's context hint.

import json
import math
import statistics
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from p3_common.settings import Settings

from .sensors import run_duration, step_durations

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# pandas and matplotlib (via ml.plots) are imported where the report is built, not when the code
# location loads: they cost seconds of every `p3 materialize` start-up.

REPORT_KEY = dg.AssetKey(["monitoring", "performance_report"])
WINDOW = timedelta(days=7)
MAX_RUNS = 1000


@dataclass(frozen=True)
class RunRow:
    """One finished run of the window."""

    job: str
    run_id: str
    status: str
    ended_at: datetime
    seconds: float


def finished_runs(instance: dg.DagsterInstance, since: datetime) -> list[RunRow]:
    """Runs that finished after ``since``, oldest first."""
    records = instance.get_run_records(
        dg.RunsFilter(
            updated_after=since,
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
        ),
        limit=MAX_RUNS,
    )
    rows = []
    for record in records:
        seconds = run_duration(record)
        if seconds is None or record.end_time is None:
            continue
        rows.append(
            RunRow(
                job=record.dagster_run.job_name,
                run_id=record.dagster_run.run_id,
                status=record.dagster_run.status.value,
                ended_at=datetime.fromtimestamp(record.end_time, UTC),
                seconds=seconds,
            )
        )
    return sorted(rows, key=lambda row: row.ended_at)


def run_summary(rows: list[RunRow]) -> "pd.DataFrame":
    """Per job: runs, failure rate, median/p95/max duration of the successful ones."""
    import pandas as pd

    out = []
    for job in sorted({row.job for row in rows}):
        runs = [row for row in rows if row.job == job]
        ok = sorted(row.seconds for row in runs if row.status == "SUCCESS")
        out.append(
            {
                "job": job,
                "runs": len(runs),
                "failure_rate": sum(row.status == "FAILURE" for row in runs) / len(runs),
                "median_s": statistics.median(ok) if ok else None,
                "p95_s": ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else None,
                "max_s": ok[-1] if ok else None,
            }
        )
    return pd.DataFrame(out, columns=["job", "runs", "failure_rate", "median_s", "p95_s", "max_s"])


def slowest_steps(
    instance: dg.DagsterInstance, rows: list[RunRow], top: int = 10
) -> "pd.DataFrame":
    """The steps with the largest median duration over the window's successful runs."""
    import pandas as pd

    durations: dict[str, list[float]] = {}
    for row in rows:
        if row.status == "SUCCESS":
            for step, seconds in step_durations(instance, row.run_id).items():
                durations.setdefault(step, []).append(seconds)
    table = pd.DataFrame(
        [
            {
                "step": step,
                "runs": len(values),
                "median_s": statistics.median(values),
                "max_s": max(values),
            }
            for step, values in durations.items()
        ],
        columns=["step", "runs", "median_s", "max_s"],
    )
    return table.sort_values("median_s", ascending=False).head(top).reset_index(drop=True)


def durations_figure(rows: list[RunRow]) -> "Figure":
    """Run durations over the window, one series per job; failures marked with crosses."""
    from ml.plots import new_figure

    figure = new_figure(8, 4)
    axes = figure.add_subplot()
    for job in sorted({row.job for row in rows}):
        runs = [row for row in rows if row.job == job]
        axes.plot([r.ended_at for r in runs], [r.seconds for r in runs], marker="o", label=job)
        failed = [r for r in runs if r.status == "FAILURE"]
        axes.scatter(
            [r.ended_at for r in failed], [r.seconds for r in failed], marker="x", color="red"
        )
    axes.set_ylabel("run duration (s)")
    axes.set_title("Run durations, last 7 days (x = failed)")
    if rows:
        axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    return figure


def cache_section(settings: Settings) -> dict[str, float]:
    """Query-cache hit rate and latency percentiles (hits and misses) from the cache's own stats."""
    from p3_query.cache.factory import open_cache

    with open_cache(settings, background_flush=False) as cache:
        stats = cache.stats(top=0)
    return {
        "hit_rate": round(stats.hit_ratio, 4),
        "requests": float(stats.requests),
        "hit_p95_ms": stats.latency.get("hit", {}).get("p95_ms", 0.0),
        "miss_p95_ms": stats.latency.get("miss", {}).get("p95_ms", 0.0),
        "memory_bytes": float(stats.memory_bytes),
    }


# The setting naming the Prometheus the API's request counters are read from (compose, `make stack`).
PROMETHEUS_URL_ENV = "P3_PROMETHEUS_URL"
# /metrics is Prometheus's own scrape, not a client's request (the alert rules leave it out too).
_API = 'p3_api_requests_total{route!="/metrics"}'
_API_ERRORS = 'p3_api_requests_total{route!="/metrics",status=~"5.."}'


@dataclass(frozen=True)
class ApiTraffic:
    """The API's requests and 5xx answers over the window, and where they were read."""

    source: str
    requests: float
    errors: float

    @property
    def error_rate(self) -> float | None:
        """Share of requests answered with a 5xx (the availability SLO's errors); None when
        there were no requests."""
        return self.errors / self.requests if self.requests else None


def api_traffic_from_prometheus(url: str, window: timedelta = WINDOW) -> ApiTraffic:
    """Requests and 5xx answers of every API process over ``window``, from Prometheus."""
    days = f"{int(window.total_seconds())}s"

    def scalar(expr: str) -> float:
        query = urllib.parse.urlencode({"query": f"sum(increase({expr}[{days}]))"})
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query?{query}", timeout=30) as r:
            answer = json.load(r)
        result = answer["data"]["result"]
        # No series: no request of that kind in the window (sum over nothing is empty).
        return float(result[0]["value"][1]) if result else 0.0

    return ApiTraffic(f"prometheus {url}", scalar(_API), scalar(_API_ERRORS))


def api_traffic_from_folder(folder: Path) -> ApiTraffic:
    """Requests and 5xx answers since the local API (``make api``) started, from its workers'
    metrics files (what its /metrics sums)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    requests = errors = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name != "p3_api_requests_total" or sample.labels["route"] == "/metrics":
                continue
            requests += sample.value
            if sample.labels["status"].startswith("5"):
                errors += sample.value
    return ApiTraffic(f"the local API's metrics since it started ({folder})", requests, errors)


def api_traffic(settings: Settings, prometheus_url: str | None) -> ApiTraffic | str:
    """The API's traffic from Prometheus when configured, else the local API's metrics folder;
    a one-line reason when neither can be read."""
    if prometheus_url:
        try:
            return api_traffic_from_prometheus(prometheus_url)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            return f"Prometheus at {prometheus_url} ({PROMETHEUS_URL_ENV}) did not answer: {exc}"
    folder = settings.home / "api" / "prometheus"
    if any(folder.glob("*.db")):
        return api_traffic_from_folder(folder)
    return (
        f"no API metrics: set {PROMETHEUS_URL_ENV} to the Prometheus that scrapes the API, "
        f"or run the API locally (`make api` writes {folder})"
    )


def api_metadata(traffic: ApiTraffic | str) -> dict[str, str | int | float]:
    """The report's API section: requests, 5xx error rate and where they came from."""
    if isinstance(traffic, str):
        return {"api_metrics_source": traffic}
    out: dict[str, str | int | float] = {
        "api_metrics_source": traffic.source,
        "api_requests": int(round(traffic.requests)),
        "api_5xx": int(round(traffic.errors)),
    }
    rate = traffic.error_rate
    if rate is not None and math.isfinite(rate):
        out["api_error_rate"] = round(rate, 4)
    return out


def build_report_asset(
    settings: Settings, prometheus_url: str | None = None
) -> dg.AssetsDefinition:
    """``monitoring/performance_report``, materialised every Monday at 07:00 UTC (or on demand).

    ``prometheus_url`` (default: ``P3_PROMETHEUS_URL``; docker-compose.yml and `make stack` set it
    for the code server) is where the API's error rate is read.
    """
    if prometheus_url is None:
        prometheus_url = settings.prometheus_url

    @dg.asset(
        key=REPORT_KEY,
        group_name="monitoring",
        kinds={"dagster", "matplotlib"},
        owners=["team:platform"],
        automation_condition=dg.AutomationCondition.on_cron("0 7 * * 1", "UTC"),
        description=(
            "Weekly performance report over the last 7 days: per-job run count, failure rate and "
            "median/p95/max duration, the slowest steps, the query cache's hit rate and p95 "
            "latency, the API's requests and 5xx error rate, with a plot of every run's duration. "
            "Reads the Dagster instance, the cache and the API's metrics (Prometheus when "
            "P3_PROMETHEUS_URL is set)."
        ),
    )
    def performance_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Weekly performance report: run durations and failures, slowest steps, cache hit rate
        and latency, API error rate, over the last 7 days."""
        from ml.plots import markdown_image

        since = datetime.now(UTC) - WINDOW
        rows = [
            row for row in finished_runs(context.instance, since) if row.run_id != context.run_id
        ]
        summary = run_summary(rows)
        steps = slowest_steps(context.instance, rows)
        cache = cache_section(settings)
        failed = sum(row.status == "FAILURE" for row in rows)
        return dg.MaterializeResult(
            metadata={
                "window_start": dg.MetadataValue.timestamp(since),
                "runs": len(rows),
                "run_failure_rate": round(failed / len(rows), 4) if rows else 0.0,
                "runs_by_job": dg.MetadataValue.md(
                    summary.to_markdown(index=False, floatfmt=".2f")
                ),
                "slowest_steps": dg.MetadataValue.md(
                    steps.to_markdown(index=False, floatfmt=".1f")
                ),
                "cache_hit_rate": cache["hit_rate"],
                "query_p95_ms_hit": cache["hit_p95_ms"],
                "query_p95_ms_miss": cache["miss_p95_ms"],
                "cache_memory_bytes": int(cache["memory_bytes"]),
                **api_metadata(api_traffic(settings, prometheus_url)),
                "run_durations_plot": dg.MetadataValue.md(
                    markdown_image(durations_figure(rows), "run durations")
                ),
            }
        )

    return performance_report
