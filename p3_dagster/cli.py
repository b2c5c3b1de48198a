"""The ``p3`` command line: materialise the graph, prepare the Dagster instance, query and cache.

Heavy imports (Dagster, dagster-dbt, the definitions) happen inside the commands that need them,
so ``p3 query`` and ``p3 cache`` start in well under a second.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from p3_common.settings import Settings, SettingsError, get_settings
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
    from .materialize import prepare_dbt_manifest

    print(prepare_dbt_manifest(_settings()))


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

    The run is recorded in the local Dagster instance, so `make dev` shows it afterwards.
    """
    from .materialize import run_materialize

    if not run_materialize(_settings(), select):
        raise typer.Exit(1)


app.command("query")(query_command)
app.add_typer(cache_app, name="cache")


if __name__ == "__main__":
    app()
