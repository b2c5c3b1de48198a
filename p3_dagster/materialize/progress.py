"""Progress lines from the run's event log (steps, materialisations, check results) and the
closing summary of the warehouse and the published snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import duckdb
from rich.table import Table

from p3_common.settings import Settings
from p3_common.snapshot import read_snapshot
from p3_ingest.warehouse import raw_table_counts

from ..defs.automation.sensors import root_cause
from .console import console

PROGRESS_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


class Progress:
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
        if kind == dg.DagsterEventType.STEP_START:
            console.print(f"{clock} [yellow]▶[/yellow] {event.step_key}")
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._materialization(clock, event)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self._check(event)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self._check_summary(clock, event.step_key, step_failed=False)
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self._check_summary(clock, event.step_key, step_failed=True)
            error = event.event_specific_data.error
            message = root_cause(error) if error else ""
            console.print(f"{clock} [red]✘ {event.step_key} failed[/red]: {message}")
        elif kind == dg.DagsterEventType.STEP_UP_FOR_RETRY:
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


def print_summary(settings: Settings, reported: set[str]) -> None:
    counts = raw_counts(settings.warehouse_path)
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


def raw_counts(warehouse: Path, attempts: int = 5) -> dict[str, int] | None:
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
