"""The weekly ``monitoring/performance_report`` asset: run durations and outcomes, step hot spots
and the query cache's hit rate and latency over the last seven days, with plots, in the Dagster UI."""

# No `from __future__ import annotations`: Dagster inspects the asset function's context hint.

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
from matplotlib.figure import Figure

from ml.plots import markdown_image, new_figure
from p3_common.settings import Settings

from .sensors import run_duration, step_durations

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


def run_summary(rows: list[RunRow]) -> pd.DataFrame:
    """Per job: runs, failure rate, median/p95/max duration of the successful ones."""
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


def slowest_steps(instance: dg.DagsterInstance, rows: list[RunRow], top: int = 10) -> pd.DataFrame:
    """The steps with the largest median duration over the window's successful runs."""
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


def durations_figure(rows: list[RunRow]) -> Figure:
    """Run durations over the window, one series per job; failures marked with crosses."""
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


def build_report_asset(settings: Settings) -> dg.AssetsDefinition:
    """``monitoring/performance_report``, materialised every Monday at 07:00 UTC (or on demand)."""

    @dg.asset(
        key=REPORT_KEY,
        group_name="monitoring",
        kinds={"dagster", "matplotlib"},
        owners=["team:platform"],
        automation_condition=dg.AutomationCondition.on_cron("0 7 * * 1", "UTC"),
        description=(
            "Weekly performance report over the last 7 days: per-job run count, failure rate and "
            "median/p95/max duration, the slowest steps, the query cache's hit rate and p95 "
            "latency, with a plot of every run's duration. Reads the Dagster instance and the cache."
        ),
    )
    def performance_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Weekly performance report: run durations and failures, slowest steps, cache hit rate
        and latency, over the last 7 days."""
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
                "run_durations_plot": dg.MetadataValue.md(
                    markdown_image(durations_figure(rows), "run durations")
                ),
            }
        )

    return performance_report
