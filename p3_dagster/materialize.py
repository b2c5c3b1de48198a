"""``p3 materialize``: one run of ``materialize_everything_job`` with live progress from the event log.

Kept apart from ``p3_dagster.cli`` so that the other commands (``p3 query``, ``p3 cache``) start
without importing Dagster, dagster-dbt and the definitions (about 3.5 s of imports).

A run never blocks the next one: SIGINT/SIGTERM end it as canceled and free its ``duckdb_write``
slot; a run left started by a process that died (kill -9, power loss) is marked failed, and its
slot freed, by the next ``p3 materialize``; a run waiting for the slot says who holds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from rich.console import Console
from rich.table import Table

from p3_common.settings import REPO_ROOT, Settings
from p3_common.snapshot import read_snapshot
from p3_ingest.sources.source import season_ranges
from p3_ingest.warehouse import raw_table_counts

from .definitions import build_definitions
from .defs.automation.sensors import root_cause
from .defs.jobs import MATERIALIZE_EVERYTHING_JOB
from .lib.dbt import prepare_manifest

# soft_wrap: a progress or error line stays one line whatever the terminal width.
console = Console(soft_wrap=True)

INSTANCE_TEMPLATE = REPO_ROOT / "deploy" / "dagster.local.yaml"
# workspace.yaml's code location: runs launched here are runs of its job, so the UI, re-execution
# and the run-failure sensor treat them like runs launched from the UI.
CODE_LOCATION = "p3"
DEFINITIONS_MODULE = "p3_dagster.definitions"
# The name Dagster gives the repository of a module's Definitions.
REPOSITORY_NAME = "__repository__"
POOL = "duckdb_write"
PID_TAG = "p3/pid"
PID_START_TAG = "p3/pid_start"
HOST_TAG = "p3/host"
SOURCE_TAG = "p3/source"
SEASONS_TAG = "p3/seasons"
_LIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
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


def say(message: str) -> None:
    """One progress line on the terminal (kept even while stdout goes to the run log)."""
    console.print(f"[dim]…[/dim] {message}")


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``$P3_HOME/dagster`` with the local instance config, and point DAGSTER_HOME at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


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
    with log_path.open("w") as log, _library_output_to(log):
        say("parsing the dbt project (dbt parse)")
        prepare_manifest(settings)
        say("loading the definitions")
        definitions = build_definitions(settings)
        graph = definitions.resolve_asset_graph()
        selection = (
            dg.AssetSelection.all() if select == "*" else dg.AssetSelection.from_string(select)
        )
        keys = selection.resolve(graph)
        seasons = _partition_keys(definitions)
        tags = run_tags(settings, seasons)
        console.print(
            f"[bold]P3[/bold] materialising [cyan]{select}[/cyan] ({len(keys)} assets) from source "
            f"[cyan]{settings.source}[/cyan]"
            + (f", seasons {seasons[0]}-{seasons[-1]}" if seasons else "")
            + f"\n  warehouse {settings.warehouse_path}"
        )
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        reported: set[str] = set()
        with dg.DagsterInstance.get() as instance:
            recover_dead_runs(instance, say)
            job = _reconstructable_job()
            run = create_cli_run(instance, job, keys, tags, run_id)
            ok = _run_with_progress(job, run, instance, reported, log)
    console.print(f"  run log    {log_path} (dbt, Dagster and library output)")
    if not ok:
        console.print(
            "[red bold]run failed[/red bold]; see the errors above, the run log, or the run in "
            "`make dev`"
        )
        return False
    _print_summary(settings, reported)
    return True


def run_tags(settings: Settings, seasons: list[str]) -> dict[str, str]:
    """Tags of a CLI run: who launched it (process and host, to detect it died) and what it loads."""
    tags = {
        "p3/launched_by": "p3 materialize",
        SOURCE_TAG: settings.source,
        SEASONS_TAG: season_ranges([int(s) for s in seasons]) if seasons else "none",
        PID_TAG: str(os.getpid()),
        PID_START_TAG: _process_start(os.getpid()) or "",
        HOST_TAG: socket.gethostname(),
    }
    if seasons:
        # One run over the whole season range: the raw assets' single-run backfill policy.
        tags |= {
            "dagster/asset_partition_range_start": seasons[0],
            "dagster/asset_partition_range_end": seasons[-1],
        }
    return tags


def _reconstructable_job():
    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=str(REPO_ROOT)
    )
    return repository.get_reconstructable_job(MATERIALIZE_EVERYTHING_JOB)


def create_cli_run(
    instance: dg.DagsterInstance,
    job,
    keys: set[dg.AssetKey] | frozenset[dg.AssetKey],
    tags: dict[str, str],
    run_id: str | None = None,
    run_config: dict | None = None,
) -> dg.DagsterRun:
    """A NOT_STARTED run of the code location's job over ``keys``, with the location's origin.

    The origin names code location "p3" (workspace.yaml), which is what the UI's "View job",
    re-execution and ``run_failure_alert_sensor`` match runs on.
    """
    subset = job.get_subset(asset_selection=frozenset(keys))
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=code_location_origin(), repository_name=REPOSITORY_NAME
        ),
        job_name=MATERIALIZE_EVERYTHING_JOB,
    )
    return instance.create_run_for_job(
        job_def=subset.get_definition(),
        run_id=run_id,
        run_config=run_config if run_config is not None else _QUIET_LOGGING,
        tags=tags,
        asset_selection=frozenset(keys),
        remote_job_origin=origin,
        job_code_origin=job.get_python_origin(),
    )


def code_location_origin() -> ManagedGrpcPythonEnvCodeLocationOrigin:
    """The origin of workspace.yaml's code location "p3", as ``dagster dev`` loads it."""
    return ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            working_directory=str(REPO_ROOT),
        ),
        location_name=CODE_LOCATION,
    )


def recover_dead_runs(instance: dg.DagsterInstance, report: Callable[[str], None]) -> list[str]:
    """Fail the runs a dead ``p3`` process left started on this host, and free stale pool slots.

    A run is dead when the process recorded in its ``p3/pid`` tag is gone (or is another process
    that reused the pid). Slots held by runs that already ended are freed too. Returns the ids
    of the runs marked failed; one line per run is reported.
    """
    host = socket.gethostname()
    failed: list[str] = []
    live = instance.get_runs(
        filters=dg.RunsFilter(statuses=_LIVE_STATUSES, tags={"p3/launched_by": "p3 materialize"})
    )
    legacy_orphans = any(PID_TAG not in run.tags for run in live) and not _other_p3_running()
    for run in live:
        pid = int(run.tags.get(PID_TAG) or 0)
        if pid and run.tags.get(HOST_TAG) != host:
            continue  # another machine's run (a shared instance): its process is not ours to judge
        if pid == os.getpid() or (pid and _alive(pid, run.tags.get(PID_START_TAG))):
            continue
        if not pid and not legacy_orphans:
            continue  # recorded before runs carried a pid: dead only if no p3 process is running
        instance.report_run_failed(
            run,
            f"The p3 process that ran it (pid {pid or 'unknown'} on {host}) died without "
            "ending it; marked failed by the next p3 materialize.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
        report(
            f"run {run.run_id[:8]} was left started by p3 (pid {pid or 'unknown'}), which died: "
            f"marked it failed and freed its {POOL} slot"
        )
    info = instance.event_log_storage.get_concurrency_info(POOL)
    holders = {slot.run_id for slot in info.claimed_slots} | {
        step.run_id for step in info.pending_steps
    }
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return failed


def _other_p3_running() -> bool:
    """Whether another ``p3 materialize`` process runs on this machine (Linux /proc; else True)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for cmdline in proc.glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if any(a.endswith(b"p3") for a in args) and b"materialize" in args:
                return True
    return False


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _process_start(pid)
    # A zombie (killed, not yet reaped) is dead; a different start time means the pid was reused.
    return now is not None and now != "zombie" and (not start or now == start)


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), "zombie", or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return "zombie" if fields[0] in {"Z", "X"} else fields[19]


def _partition_keys(definitions: dg.Definitions) -> list[str]:
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        if partitions is not None:
            return list(partitions.get_partition_keys())
    return []


@contextlib.contextmanager
def _library_output_to(log):
    """Send library logging (MLflow, alembic, ...) and warnings to the run log, not the terminal."""
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    console.file = sys.stdout
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        root.handlers, _ = saved
        root.setLevel(saved[1])


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _run_with_progress(
    job,
    run: dg.DagsterRun,
    instance: dg.DagsterInstance,
    reported: set[str],
    log,
) -> bool:
    """Run ``run`` in a worker thread, printing progress from its event log as it goes.

    The main thread keeps the signals: SIGINT or SIGTERM marks the run canceled, frees its pool
    slot, stops child processes (dbt) and exits at once (DuckDB rolls back an unfinished write).
    """
    outcome: dict[str, object] = {}
    run_id = run.run_id

    def execute() -> None:
        try:
            result = execute_run(job, run, instance)
            outcome["success"] = result.success
        except Exception as exc:  # surfaced to the user below, never swallowed
            outcome["error"] = exc

    received: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    worker = threading.Thread(target=execute, name="p3-run", daemon=True)
    started = time.monotonic()
    progress = _Progress(started, reported)
    try:
        worker.start()
        seen = 0
        next_pool_check = started + 2.0
        while True:
            worker.join(timeout=0.5)
            if received:
                _cancel(instance, run_id, received[0], log)
            records = instance.all_logs(run_id, of_type=_PROGRESS_EVENTS)
            for record in records[seen:]:
                progress.event(record)
            seen = max(seen, len(records))
            if not worker.is_alive():
                break
            if time.monotonic() >= next_pool_check:
                next_pool_check = time.monotonic() + 2.0
                progress.waiting(_waiting_for(instance, run_id))
    except BaseException as exc:
        # Anything that stops this process mid-run (a closed pipe, a bug here) ends the run too.
        _end_run(instance, run_id, f"p3 materialize stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        console.print(f"[red]{outcome['error']}[/red]")
        return False
    return bool(outcome.get("success"))


def _cancel(instance: dg.DagsterInstance, run_id: str, signum: int, log) -> None:
    """End the run as canceled, free its slots, stop our child processes, and exit."""
    name = signal.Signals(signum).name
    console.print(
        f"[yellow]interrupted ({name})[/yellow]: run {run_id[:8]} marked canceled, "
        f"its {POOL} slot freed"
    )
    _terminate_children()
    _end_run(instance, run_id, f"p3 materialize was interrupted ({name}).", canceled=True)
    with contextlib.suppress(Exception):
        log.flush()
        sys.__stdout__.flush()
    # The worker thread may be inside a step; exiting now is what a Ctrl-C means. A DuckDB
    # write in progress is rolled back when the file is next opened.
    os._exit(128 + signum)


def _end_run(
    instance: dg.DagsterInstance, run_id: str, message: str, *, canceled: bool = False
) -> None:
    """Mark the run canceled (or failed) unless it already ended, and free its pool slots."""
    with contextlib.suppress(Exception):  # best effort: the process is on its way out
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            if canceled:
                instance.report_run_canceled(run, message)
            else:
                instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def _terminate_children() -> None:
    """SIGTERM the processes this one started (dbt), found through /proc (Linux)."""
    me = str(os.getpid())
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = entry.read_text()
            if stat[stat.rindex(")") + 2 :].split()[1] == me:
                os.kill(int(entry.parent.name), signal.SIGTERM)


def _waiting_for(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """What the run's pending step waits for, when it waits for a pool slot held by another run."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    mine = [s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None]
    if not mine:
        return None
    holders = [s for s in info.claimed_slots if s.run_id != run_id]
    if not holders:
        return f"waiting for a {POOL} slot for {mine[0].step_key}"
    holder = instance.get_run_by_id(holders[0].run_id)
    who = ""
    if holder is not None:
        pid = holder.tags.get(PID_TAG)
        who = f" ({holder.job_name}"
        who += f", {holder.tags.get('p3/launched_by', 'Dagster')} pid {pid}" if pid else ""
        who += f", status {holder.status.value})"
    return (
        f"waiting for the {POOL} slot held by run {holders[0].run_id[:8]}{who}, "
        f"step {holders[0].step_key}, before {mine[0].step_key}"
    )


class _Progress:
    """Prints progress lines from event log records: steps, materialisations, check results."""

    def __init__(self, started: float, reported: set[str]) -> None:
        self.started = started
        self.reported = reported
        self.checks: dict[str, list[tuple[bool, str]]] = {}
        self.last_wait: str | None = None

    def clock(self) -> str:
        return f"[dim]{time.monotonic() - self.started:6.1f}s[/dim]"

    def waiting(self, message: str | None) -> None:
        if message and message != self.last_wait:
            console.print(f"{self.clock()} [yellow]⏸[/yellow] {message}")
        self.last_wait = message

    def event(self, record) -> None:
        event = record.dagster_event
        if event is None:
            return
        clock = self.clock()
        kind = event.event_type
        if kind == DagsterEventType.STEP_START:
            console.print(f"{clock} [yellow]▶[/yellow] {event.step_key}")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            self._materialization(clock, event)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            self._check(event)
        elif kind == DagsterEventType.STEP_SUCCESS:
            self._check_summary(clock, event.step_key, step_failed=False)
        elif kind == DagsterEventType.STEP_FAILURE:
            self._check_summary(clock, event.step_key, step_failed=True)
            error = event.event_specific_data.error
            message = root_cause(error) if error else ""
            console.print(f"{clock} [red]✘ {event.step_key} failed[/red]: {message}")
        elif kind == DagsterEventType.STEP_UP_FOR_RETRY:
            console.print(f"{clock} [yellow]↻ {event.step_key} will retry[/yellow]")

    def _materialization(self, clock: str, event) -> None:
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        if name in self.reported:  # a season-range run records one materialisation per season
            return
        self.reported.add(name)
        metadata = materialization.metadata
        rows = metadata.get("rows_loaded") or metadata.get("dagster/row_count")
        seasons = metadata.get("seasons")
        detail = f" {rows.value:,} rows" if rows is not None else ""
        detail += f", seasons {seasons.value}" if seasons is not None else ""
        training = metadata.get("training")  # the model: trained (and why) or up to date
        detail += f" {training.value}" if training is not None else ""
        console.print(f"{clock} [green]✔[/green] {name}{detail}")

    def _check(self, event) -> None:
        evaluation = event.event_specific_data
        name = evaluation.check_name
        self.reported.add(f"check:{name}:{'ok' if evaluation.passed else 'failed'}")
        detail = ""
        if not evaluation.passed:
            metadata = evaluation.metadata or {}
            rules = metadata.get("failed")
            rows = metadata.get("unexpected_rows")
            detail = f"{name} on {evaluation.asset_key.to_user_string()}"
            if rules is not None and rules.value not in (None, "none"):
                detail += f": {rules.value}"
            if rows is not None and rows.value:
                detail += f" ({rows.value:,} offending rows)"
        self.checks.setdefault(event.step_key or "", []).append((evaluation.passed, detail))

    def _check_summary(self, clock: str, step_key: str | None, *, step_failed: bool) -> None:
        results = self.checks.pop(step_key or "", None)
        if not results:
            return
        failures = [detail for passed, detail in results if not passed]
        if not failures:
            console.print(f"{clock} [green]✔[/green] {step_key}: {len(results)} checks passed")
            return
        console.print(
            f"{clock} [red]✘ {step_key}: {len(failures)} of {len(results)} checks failed[/red]"
        )
        for detail in failures:
            console.print(f"         [red]✘[/red] {detail}")


def _print_summary(settings: Settings, reported: set[str]) -> None:
    counts = _raw_counts(settings.warehouse_path)
    if counts is None:
        console.print(
            "  [dim]warehouse busy (another run is writing it): raw row counts skipped[/dim]"
        )
        counts = {}
    snapshot = read_snapshot(settings.serving_duckdb_path, missing_ok=True)  # type: ignore[call-overload]
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


def _raw_counts(warehouse: Path, attempts: int = 5) -> dict[str, int] | None:
    """Raw row counts, or None if another run's step holds the warehouse's write lock.

    The summary reads outside the ``duckdb_write`` pool: a concurrent run may be writing, and a
    finished run must not fail for a table of counts.
    """
    for attempt in range(attempts):
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                return {f"raw.ergast__{name}": n for name, n in raw_table_counts(con).items()}
        except duckdb.IOException:
            if attempt < attempts - 1:
                time.sleep(1.0)
    return None
