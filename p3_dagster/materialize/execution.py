"""Executing the run in a worker thread while the main thread prints progress and keeps the signals:
SIGINT/SIGTERM end the run as canceled and free its pool slot."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

import dagster as dg
from dagster._core.execution.api import execute_run  # see job_run.py: no public equivalent

from .console import console
from .processes import terminate_children
from .progress import PROGRESS_EVENTS, Progress
from .recovery import POOL, waiting_for


def run_with_progress(
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
    progress = Progress(started, reported)
    try:
        worker.start()
        cursor: str | None = None
        next_pool_check = started + 2.0
        while True:
            worker.join(timeout=0.5)
            finished = not worker.is_alive()  # before the read, so the last events are printed
            if received:
                cancel(instance, run_id, received[0], log)
            # Only the records after the cursor: re-reading the whole log every half second
            # competed with the run's own event writes for the GIL and the storage lock.
            page = instance.get_records_for_run(run_id, cursor=cursor, of_type=PROGRESS_EVENTS)
            for record in page.records:
                progress.event(record.event_log_entry)
            cursor = page.cursor
            if finished:
                break
            if time.monotonic() >= next_pool_check:
                next_pool_check = time.monotonic() + 2.0
                progress.waiting(waiting_for(instance, run_id))
    except BaseException as exc:
        # Anything that stops this process mid-run (a closed pipe, a bug here) ends the run too.
        end_run(instance, run_id, f"p3 materialize stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        console.print(f"[red]{outcome['error']}[/red]")
        return False
    return bool(outcome.get("success"))


def cancel(instance: dg.DagsterInstance, run_id: str, signum: int, log) -> None:
    """End the run as canceled, free its slots, stop our child processes, and exit."""
    name = signal.Signals(signum).name
    console.print(
        f"[yellow]interrupted ({name})[/yellow]: run {run_id[:8]} marked canceled, "
        f"its {POOL} slot freed"
    )
    terminate_children()
    end_run(instance, run_id, f"p3 materialize was interrupted ({name}).", canceled=True)
    with contextlib.suppress(Exception):
        log.flush()
        sys.__stdout__.flush()
    # The worker thread may be inside a step; exiting now is what a Ctrl-C means. A DuckDB
    # write in progress is rolled back when the file is next opened.
    os._exit(128 + signum)


def end_run(
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
