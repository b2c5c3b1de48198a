"""``p3 materialize``: one run of ``materialize_everything_job`` with live progress from the event log.

Kept apart from ``p3_dagster.cli`` so that the other commands (``p3 query``, ``p3 cache``) start
without importing Dagster, dagster-dbt and the definitions (about 3.5 s of imports).

A run never blocks the next one: SIGINT/SIGTERM end it as canceled and free its ``duckdb_write``
slot; a run left started by a process that died (kill -9, power loss) is marked failed, and its
slot freed, by the next ``p3 materialize``; a run waiting for the slot says who holds it.

Modules: ``job_run`` (the run as a run of the code location's job), ``execution`` (the worker
thread and signals), ``progress`` (what is printed), ``recovery`` (dead runs, pool slots),
``processes`` (/proc), ``console`` (terminal and run log).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import dagster as dg
import yaml

from p3_common.settings import REPO_ROOT, Settings

from ..definitions import build_definitions
from ..defs.ingestion.assets import raw_asset_key
from ..defs.jobs import EVERYTHING
from ..lib.dbt import prepare_manifest
from .console import console, library_output_to, say
from .execution import run_with_progress
from .job_run import create_cli_run, reconstructable_job, run_tags
from .progress import print_summary
from .recovery import recover_dead_runs

__all__ = ["INSTANCE_TEMPLATE", "prepare_dagster_home", "run_materialize"]


INSTANCE_TEMPLATE = REPO_ROOT / "deploy" / "dagster.local.yaml"

# One "materialisation planned" event per asset for a season-range run instead of one per asset
# partition (675 fewer writes for 1950-2024, ~14 ms each on the SQLite instance). Dagster's trade:
# a run that fails leaves its partitions unmarked instead of marked failed; the run itself, its
# failed step and the failure alert say what failed.
PLANNED_EVENTS_AS_SUBSETS = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
# Dagster hands the event storage a run's planned events (one per asset and check: 389 for a
# new-race run) and a step's per-partition materialisations as one batch when this is > 0; the
# local instance's storage (lib/instance_storage.py) writes a batch in one transaction.
EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``$P3_HOME/dagster`` with the local instance config, and point DAGSTER_HOME at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_config(home))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def instance_config(home: Path) -> str:
    """The template's instance config for ``home``, with the event log's folder written out.

    The event log storage (lib/instance_storage.py) defaults its folder to
    ``$DAGSTER_HOME/history/runs``; written out, the config also loads where DAGSTER_HOME is not
    set (``DagsterInstance.from_config(home)``, as tests and tools do).
    """
    config = yaml.safe_load(INSTANCE_TEMPLATE.read_text())
    event_log = config.get("event_log_storage")
    if event_log is not None:
        event_log.setdefault("config", {})["base_dir"] = str(home / "history" / "runs")
    header = (
        f"# Written from {INSTANCE_TEMPLATE.relative_to(REPO_ROOT)} by `p3 dagster-home`, "
        "`make run` and `make dev`:\n# edit the template, not this copy.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def run_materialize(settings: Settings, select: str = "*") -> bool:
    """Materialise ``select`` over every configured season in one run; True if it succeeded.

    The run is a run of ``materialize_everything_job`` in the local Dagster instance
    (``$P3_HOME/dagster``), so ``make dev`` shows it, can re-execute it, and the run-failure
    sensor alerts on it. Progress and a summary table are printed to the console.
    """
    prepare_dagster_home(settings)
    run_id = str(uuid.uuid4())
    log_path = settings.home / "logs" / f"materialize-{run_id[:8]}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log, library_output_to(log):
        say("checking the dbt manifest (dbt parse only if the project changed)")
        prepare_manifest(settings)
        say("loading the definitions")
        definitions = build_definitions(settings)
        graph = definitions.resolve_asset_graph()
        selection = EVERYTHING if select == "*" else dg.AssetSelection.from_string(select)
        keys = (selection & EVERYTHING).resolve(graph)
        seasons = partition_keys(definitions)
        tags = run_tags(settings, seasons)
        console.print(
            f"[bold]P3[/bold] materialising [cyan]{select}[/cyan] ({len(keys)} assets) from source "
            f"[cyan]{settings.source}[/cyan]"
            + (f", seasons {seasons[0]}-{seasons[-1]}" if seasons else "")
            + f"\n  warehouse {settings.warehouse_path}"
        )
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        reported: set[str] = set()
        os.environ.setdefault(PLANNED_EVENTS_AS_SUBSETS, "1")
        os.environ.setdefault(EVENT_BATCH_SIZE, "1000")
        with dg.DagsterInstance.get() as instance:
            recover_dead_runs(instance, say)
            job = reconstructable_job()
            run = create_cli_run(instance, job, keys, tags, run_id)
            ok = run_with_progress(job, run, instance, reported, log)
    console.print(f"  run log    {log_path} (dbt, Dagster and library output)")
    if not ok:
        console.print(
            "[red bold]run failed[/red bold]; see the errors above, the run log, or the run in "
            "`make dev`"
        )
        return False
    print_summary(settings, reported)
    return True


def partition_keys(definitions: dg.Definitions) -> list[str]:
    """The season partitions the run covers: those of the raw tables.

    Other partitioned assets (reports by race: dynamic partitions that need an instance to list)
    are not what a season-range run ranges over; picking whichever came first in the graph's
    unordered key set made `p3 materialize` fail at random once they were added.
    """
    graph = definitions.resolve_asset_graph()
    partitions = graph.get(raw_asset_key("results")).partitions_def
    return list(partitions.get_partition_keys()) if partitions is not None else []
