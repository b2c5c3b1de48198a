"""``p3 materialize``: one in-process run of the selected assets with live progress from the event log.

Kept apart from ``p3_dagster.cli`` so that the other commands (``p3 query``, ``p3 cache``) start
without importing Dagster, dagster-dbt and the definitions (about 3.5 s of imports).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.events import DagsterEventType
from rich.console import Console
from rich.table import Table

from p3_common.settings import REPO_ROOT, Settings

from .definitions import build_definitions
from .defs.automation.sensors import root_cause
from .defs.resources import dbt_executable
from .defs.transform.project import dbt_project
from .lib.dbt import dbt_environment, parse_manifest
from .lib.publish import read_snapshot
from .lib.warehouse import raw_table_counts

console = Console()

INSTANCE_TEMPLATE = REPO_ROOT / "deploy" / "dagster.local.yaml"
_PROGRESS_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


# Progress is printed from the event log below; Dagster's own console logger would repeat it.
_QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``$P3_HOME/dagster`` with the local instance config, and point DAGSTER_HOME at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepare_dbt_manifest(settings: Settings) -> Path:
    """Parse the dbt project (``dbt parse``) so the definitions can load its manifest."""
    project = dbt_project(settings.env)
    parse_manifest(project, dbt_executable(), env=dbt_environment(settings))
    return Path(project.manifest_path)


def run_materialize(settings: Settings, select: str = "*") -> bool:
    """Materialise ``select`` over every configured season in one run; True if it succeeded.

    The run is recorded in the local Dagster instance (``$P3_HOME/dagster``), so ``make dev``
    shows it afterwards. Progress and a summary table are printed to the console.
    """
    prepare_dagster_home(settings)
    prepare_dbt_manifest(settings)
    definitions = build_definitions(settings)
    selection = dg.AssetSelection.all() if select == "*" else dg.AssetSelection.from_string(select)
    job = dg.define_asset_job("p3_cli_materialize", selection=selection)
    resolved = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(
        "p3_cli_materialize"
    )
    seasons = _partition_keys(definitions)
    tags = {"p3/launched_by": "p3 materialize"}
    if seasons:
        # One run over the whole season range: the raw assets' single-run backfill policy.
        tags |= {
            "dagster/asset_partition_range_start": seasons[0],
            "dagster/asset_partition_range_end": seasons[-1],
        }
    console.print(
        f"[bold]P3[/bold] materialising [cyan]{select}[/cyan] from source "
        f"[cyan]{settings.source}[/cyan]"
        + (f", seasons {seasons[0]}-{seasons[-1]}" if seasons else "")
        + f"\n  warehouse {settings.warehouse_path}"
    )
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    reported: set[str] = set()
    with dg.DagsterInstance.get() as instance:
        run_id = str(uuid.uuid4())
        log_path = settings.home / "logs" / f"materialize-{run_id[:8]}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        ok = _run_with_progress(resolved, instance, tags, reported, run_id, log_path)
    console.print(f"  run log    {log_path} (dbt and Dagster output)")
    if not ok:
        console.print(
            "[red bold]run failed[/red bold]; see the errors above, the run log, or the run in "
            "`make dev`"
        )
        return False
    _print_summary(settings, reported)
    return True


def _partition_keys(definitions: dg.Definitions) -> list[str]:
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        if partitions is not None:
            return list(partitions.get_partition_keys())
    return []


def _run_with_progress(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    tags: dict,
    reported: set[str],
    run_id: str,
    log_path: Path,
) -> bool:
    """Run ``job`` in a worker thread, printing progress from its event log as it goes.

    dbt's own output (hundreds of lines, written straight to stdout by dagster-dbt) goes to
    ``log_path`` instead of the terminal; the progress lines keep the real terminal.
    """
    outcome: dict[str, object] = {}

    def execute() -> None:
        try:
            result = job.execute_in_process(
                run_config=_QUIET_LOGGING,
                instance=instance,
                run_id=run_id,
                tags=tags,
                raise_on_error=False,
            )
            outcome["success"] = result.success
        except Exception as exc:  # surfaced to the user below, never swallowed
            outcome["error"] = exc

    worker = threading.Thread(target=execute, name="p3-run")
    started = time.monotonic()
    console.file = sys.stdout
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        worker.start()
        seen = 0
        while worker.is_alive() or seen == 0:
            worker.join(timeout=0.5)
            records = instance.all_logs(run_id, of_type=_PROGRESS_EVENTS)
            for record in records[seen:]:
                _print_event(record, started, reported)
            seen = max(seen, len(records))
            if not worker.is_alive():
                break
    if "error" in outcome:
        console.print(f"[red]{outcome['error']}[/red]")
        return False
    return bool(outcome.get("success"))


def _print_event(record, started: float, reported: set[str]) -> None:
    event = record.dagster_event
    if event is None:
        return
    clock = f"[dim]{time.monotonic() - started:6.1f}s[/dim]"
    kind = event.event_type
    if kind == DagsterEventType.STEP_START:
        console.print(f"{clock} [yellow]▶[/yellow] {event.step_key}")
    elif kind == DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        if name in reported:  # a season-range run records one materialisation per season
            return
        reported.add(name)
        metadata = materialization.metadata
        rows = metadata.get("rows_loaded") or metadata.get("dagster/row_count")
        seasons = metadata.get("seasons")
        detail = f" {rows.value:,} rows" if rows is not None else ""
        detail += f", seasons {seasons.value}" if seasons is not None else ""
        console.print(f"{clock} [green]✔[/green] {name}{detail}")
    elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        # Hundreds of checks pass on a healthy run: count those, show the failures.
        reported.add(f"check:{evaluation.check_name}:{'ok' if evaluation.passed else 'failed'}")
        if not evaluation.passed:
            asset = evaluation.asset_key.to_user_string()
            console.print(f"{clock} [red]✘ check {evaluation.check_name}[/red] on {asset}")
    elif kind == DagsterEventType.STEP_FAILURE:
        error = event.event_specific_data.error
        message = root_cause(error) if error else ""
        console.print(f"{clock} [red]✘ {event.step_key} failed[/red]: {message}")
    elif kind == DagsterEventType.STEP_UP_FOR_RETRY:
        console.print(f"{clock} [yellow]↻ {event.step_key} will retry[/yellow]")


def _print_summary(settings: Settings, reported: set[str]) -> None:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        counts = {f"raw.ergast__{name}": rows for name, rows in raw_table_counts(con).items()}
    snapshot = read_snapshot(settings.serving_duckdb_path)  # type: ignore[arg-type]
    table = Table(title=f"P3 warehouse ({settings.source})", show_edge=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in [*counts.items(), *(snapshot.tables.items() if snapshot else [])]:
        table.add_row(name, f"{rows:,}")
    console.print(table)
    passed = sum(1 for item in reported if item.startswith("check:") and item.endswith(":ok"))
    published = f"  published  {snapshot.path} (build {snapshot.build_id})\n" if snapshot else ""
    console.print(
        f"[bold green]done[/bold green]: {len(counts)} raw tables, "
        f"{len(snapshot.tables) if snapshot else 0} published marts, {passed} checks passed\n"
        f"  warehouse  {settings.warehouse_path}\n{published}"
        f"  open the Dagster UI with [bold]make dev[/bold] (http://127.0.0.1:3000)"
    )
