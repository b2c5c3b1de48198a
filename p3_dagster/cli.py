"""The ``p3`` command line: materialise the graph, prepare the Dagster instance, query and cache.

Heavy imports (Dagster, dagster-dbt, the definitions) happen inside the commands that need them,
so ``p3 query`` and ``p3 cache`` start in well under a second.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from p3_api.cli import app as api_keys_app
from p3_common.settings import Settings, SettingsError, get_settings
from p3_live.cli import app as live_app
from p3_query.cache.cli import app as cache_app
from p3_query.cli import query_command

app = typer.Typer(help="P3: a Formula 1 analytics platform on Dagster.", no_args_is_help=True)
console = Console()


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command("dbt-manifest")
def dbt_manifest() -> None:
    """Prepare the dbt manifest the code location loads (what `make manifest` runs)."""
    from .lib.dbt import prepare_manifest

    print(prepare_manifest(_settings()))


@app.command("dagster-home")
def dagster_home() -> None:
    """Prepare the Dagster instance folder under P3_HOME and print its path."""
    from .materialize import prepare_dagster_home

    print(prepare_dagster_home(_settings()))


@app.command()
def materialize(
    select: Annotated[
        str, typer.Option(help="Asset selection, e.g. 'group:ingestion' or '*' for everything.")
    ] = "*",
) -> None:
    """Materialise the selected assets over every configured season, in one run, with live progress.

    The run is a run of the code location's ``materialize_everything_job`` in the local Dagster
    instance, so `make dev` shows it afterwards and can re-execute it.
    """
    started = time.monotonic()
    settings = _settings_or_exit()
    seasons = _seasons_or_exit(settings)
    console.print(
        f"[bold]P3[/bold] source [cyan]{settings.source}[/cyan], seasons "
        f"{_ranges(seasons)}; loading Dagster and the pipeline code "
        f"[dim]({time.monotonic() - started:.1f}s)[/dim]",
        soft_wrap=True,
    )
    from p3_reports.analyses import AnalysisConfigError

    try:
        from .materialize import run_materialize

        ok = run_materialize(settings, select)
    except KeyboardInterrupt:  # before the run starts; once it runs, materialize handles signals
        typer.echo("p3: interrupted before the run started", err=True)
        raise typer.Exit(130) from None
    except AnalysisConfigError as exc:
        # A declared analysis (defs/analyses/*/defs.yaml) failed the definitions load: its file,
        # line and what is allowed, as one line.
        typer.echo(f"p3: {exc}", err=True)
        raise typer.Exit(2) from None
    if not ok:
        raise typer.Exit(1)


def _settings_or_exit() -> Settings:
    """Settings, or one line naming what is wrong and exit code 2 (before Dagster is imported)."""
    try:
        return get_settings()
    except SettingsError as exc:
        typer.echo(f"p3: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None


def _seasons_or_exit(settings: Settings) -> list[int]:
    """The seasons the run loads; a source that cannot provide them is one line and exit code 2."""
    from p3_ingest.sources.errors import SourceError
    from p3_ingest.sources.source import available_seasons, seasons_to_load

    try:
        available = available_seasons(
            settings.source,
            ergast_dir=str(settings.ergast_dir) if settings.ergast_dir else None,
            demo_seed=settings.demo_seed,
        )
        return seasons_to_load(settings.source, available, settings.seasons)
    except (SourceError, OSError, ValueError) as exc:
        where = f" (P3_ERGAST_DIR={settings.ergast_dir})" if settings.source == "dump" else ""
        typer.echo(f"p3: source {settings.source}{where}: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None


def _ranges(seasons: list[int]) -> str:
    from p3_ingest.sources.source import season_ranges

    return season_ranges(seasons)


@app.command()
def doctor() -> None:
    """Check every configured service (warehouse, snapshot, Redis, PostgreSQL, MLflow, Dagster
    instance) and print what is wrong and how to fix it; exit code 1 when something is."""
    from .doctor import run_checks

    checks = run_checks(_settings_or_exit())
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.detail}", soft_wrap=True, highlight=False)
        if not check.ok:
            console.print(f"       fix: {check.fix}", soft_wrap=True, highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def exporter(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9108,
) -> None:
    """Serve the pipeline's Prometheus metrics (Dagster runs and checks, the snapshot, the cache,
    the MLflow champion) from DAGSTER_HOME's instance and the P3 settings."""
    from .monitoring.exporter import ExporterError, serve

    try:
        serve(_settings_or_exit(), host, port)
    except ExporterError as exc:
        typer.echo(f"p3 exporter: {exc}", err=True)
        raise typer.Exit(2) from None


app.command("query")(query_command)
app.add_typer(cache_app, name="cache")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(live_app, name="live")


if __name__ == "__main__":
    app()
