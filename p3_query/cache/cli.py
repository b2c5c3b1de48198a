"""``p3 cache stats | warm | clear``: the query cache from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from p3_common.settings import Settings, SettingsError, get_settings
from p3_common.snapshot import SnapshotError, read_snapshot

from .base import CacheUnavailable, QueryCache
from .core import CacheStats, QueryStat
from .factory import open_cache

app = typer.Typer(help="The query cache: analytics, warming, clearing.", no_args_is_help=True)
console = Console()


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _open() -> QueryCache:
    return open_cache(_settings())


@app.command()
def stats(
    top: Annotated[int, typer.Option(help="How many hottest/costliest queries to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Hits, misses, hit ratio, evictions, memory, latency by hit/miss, hottest and costliest queries."""
    with _open() as cache:
        try:
            result = cache.stats(top=top)
        except CacheUnavailable as exc:
            console.print(f"[red]cache unavailable[/red]: {exc}")
            raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    print_stats(result)


def print_stats(result: CacheStats) -> None:
    """Rich tables of a ``CacheStats``."""
    summary = Table(title=f"P3 query cache ({result.backend})", show_edge=False, show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    rows = [
        ("current build", result.current_build or "none"),
        ("requests", f"{result.requests:,}"),
        ("hits / misses", f"{result.hits:,} / {result.misses:,}"),
        ("hit ratio", f"{result.hit_ratio:.1%}"),
        ("answered without cache", f"{result.degraded:,}"),
        ("hits by origin", ", ".join(f"{k} {v:,}" for k, v in result.hits_by_origin.items())),
        ("prefetched", f"{result.prefetches:,}"),
        ("entries (current build)", f"{result.entries:,}"),
        ("memory", f"{result.memory_bytes / 1024:,.1f} KiB"),
        (
            "evictions / expired / retired",
            f"{result.evictions} / {result.expired} / {result.retired}",
        ),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    latency = Table(title="latency (ms)", show_edge=False)
    for column in ("", "count", "mean", "p50", "p95", "p99"):
        latency.add_column(column, justify="right" if column else "left")
    for kind, s in result.latency.items():
        if s["count"]:
            latency.add_row(
                kind,
                f"{int(s['count']):,}",
                *(f"{s[k]:.3f}" for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms")),
            )
    if latency.row_count:
        console.print(latency)
    _print_queries("hottest queries", result.hottest)
    _print_queries("most expensive queries", result.most_expensive)
    if result.builds:
        builds = Table(title="builds", show_edge=False)
        for column in ("build", "entries", "KiB", "flipped", "retired"):
            builds.add_column(column)
        for build, info in result.builds.items():
            builds.add_row(
                build + (" (current)" if build == result.current_build else ""),
                f"{info['entries']:,}",
                f"{info['bytes'] / 1024:,.1f}",
                _when(info.get("flipped_at")),
                _when(info.get("retired_at")),
            )
        console.print(builds)


def _print_queries(title: str, queries: list[QueryStat]) -> None:
    if not queries:
        return
    table = Table(title=title, show_edge=False)
    for column in ("query", "template", "requests", "hits", "mean cost ms", "max cost ms"):
        table.add_column(column)
    for q in queries:
        table.add_row(
            q.query_hash[:12],
            q.template,
            f"{q.requests:,}",
            f"{q.hits:,}",
            f"{q.mean_cost_ms:.2f}",
            f"{q.max_cost_ms:.2f}",
        )
    console.print(table)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


@app.command()
def warm(
    budget: Annotated[int, typer.Option(help="How many queries to pre-compute.")] = 200,
) -> None:
    """Warm the hot query set for the published snapshot's build and make it current.

    The hot set comes from the stored query-sequence model (materialised by
    `serving/query_sequence_model`); without one, the most requested queries so far are warmed.
    """
    from .calendar import RaceCalendar
    from .engine_adapter import snapshot_computer
    from .refresh import refresh_cache
    from .warming import load_predictor

    settings = _settings()
    snapshot = settings.serving_duckdb_path
    assert snapshot is not None
    try:
        build_id = read_snapshot(snapshot).build_id
    except SnapshotError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    with _open() as cache, snapshot_computer(snapshot, build_id) as compute:
        try:
            result = refresh_cache(
                cache,
                build_id,
                compute,
                model=load_predictor(cache),
                calendar=RaceCalendar.from_snapshot(snapshot),
                budget=budget,
            )
        except CacheUnavailable as exc:
            console.print(f"[red]cache unavailable[/red]: {exc}")
            raise typer.Exit(1) from None
    r = result.report
    console.print(
        f"[green]warmed[/green] build {build_id} ({result.stats.backend}, phase {result.phase}, "
        f"{'/'.join(sorted({p.reason for p in result.planned})) or 'empty'} hot set): "
        f"{r.computed} computed, {r.already_cached} already cached, {r.failed} failed "
        f"in {r.compute_ms:.0f} ms; p3:current was {r.previous_build or 'unset'}, "
        f"{r.retired_entries} old entries retired"
    )


@app.command()
def clear(
    build: Annotated[
        str | None, typer.Option(help="Only this build's entries (default: everything).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete cached entries: one build's, or every entry, statistic, log line and model."""
    what = (
        f"the entries of build {build}" if build else "every entry, statistic, log line and model"
    )
    if not yes and not typer.confirm(f"Delete {what}?"):
        raise typer.Exit(1)
    with _open() as cache:
        try:
            deleted = cache.clear(build)
        except CacheUnavailable as exc:
            console.print(f"[red]cache unavailable[/red]: {exc}")
            raise typer.Exit(1) from None
    console.print(f"deleted {deleted:,} entries ({what})")
