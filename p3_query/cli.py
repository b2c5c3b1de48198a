"""The ``p3 query`` command: answer or explain a query spec on the published snapshot."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from p3_common.settings import Settings, SettingsError, load_settings
from p3_common.snapshot import SnapshotError

from .cache import CacheDegradedWarning, CacheResult, open_cache
from .cache.engine_adapter import CachedEngine
from .engine import Engine
from .formats import FORMATS, SINGLE_TABLE_FORMATS, render
from .planner import Plan
from .result import QueryResult, ResultTable
from .spec import SpecError, parse_spec

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one message, one line

_FORMAT_HELP = (
    "table (Rich tables), json, csv, parquet, arrow or markdown. Default: table on a terminal, "
    "else the spec's format."
)


class _StderrWarnings(logging.Handler):
    """Cache warnings (outages, failed warm-ups) as one yellow line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"warning: {record.getMessage()}", style="yellow", markup=False)


def query_command(
    spec: Annotated[
        str, typer.Argument(help="The query spec: JSON text, or a path to a .json/.yaml file.")
    ],
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the plan (sources, estimates, rewrites, SQL).")
    ] = False,
    output_format: Annotated[
        str | None, typer.Option("--format", "-f", help=_FORMAT_HELP, show_default=False)
    ] = None,
    table: Annotated[
        str,
        typer.Option(help="Table written by csv/parquet/arrow: rows, statistics or comparison."),
    ] = "rows",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the answer to this file.")
    ] = None,
    use_cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Read through the query cache (P3_REDIS_URL, else the embedded cache in "
            "P3_CACHE_DIR) and pre-fetch likely next queries; --no-cache always computes.",
        ),
    ] = True,
) -> None:
    """Answer a query spec on the published snapshot, or explain how it would be answered.

    Answers go through the query cache: a hit comes from the current build's entry, a miss is
    computed and stored. If the cache is unreachable the answer is computed from the snapshot
    with a warning on stderr, never an error.
    """
    try:
        parsed = parse_spec(spec)
        fmt = output_format or ("table" if console.is_terminal and not output else parsed.format)
        if fmt not in ("table", *FORMATS):
            raise SpecError(f"unknown format {fmt!r}; formats are table, {', '.join(FORMATS)}")
        settings = load_settings()
        engine = Engine.from_settings(settings)
        try:
            if explain:
                _print_plan(engine.explain(parsed), fmt, output)
            elif not use_cache:
                _print_result(engine.execute(parsed), fmt, table, output, None)
            else:
                with _cached(engine, settings) as cached:
                    answer = cached.execute_with_info(parsed)
                _print_result(answer.result, fmt, table, output, answer.cache)
        finally:
            engine.close()
    except (SpecError, SettingsError) as exc:
        err_console.print(str(exc), style="red", highlight=False, markup=False)
        raise typer.Exit(2) from None
    except SnapshotError as exc:
        err_console.print(str(exc), style="red", highlight=False, markup=False)
        raise typer.Exit(1) from None


@contextmanager
def _cached(engine: Engine, settings: Settings) -> Iterator[CachedEngine]:
    """``engine`` behind the configured cache; cache outages become one warning on stderr.

    Closing waits for the background pre-fetch of the likely next queries, so that the next
    ``p3 query`` of the session finds them.
    """
    cache_log = logging.getLogger("p3_query.cache")
    handler, propagate = _StderrWarnings(logging.WARNING), cache_log.propagate
    cache_log.addHandler(handler)
    cache_log.propagate = False
    try:
        with warnings.catch_warnings():
            # The cache logs each outage once; the same text as a Python warning would repeat it.
            warnings.simplefilter("ignore", CacheDegradedWarning)
            cached = CachedEngine(engine, open_cache(settings))
            try:
                yield cached
            finally:
                cached.close()
                cached.cache.close()
    finally:
        cache_log.removeHandler(handler)
        cache_log.propagate = propagate


def _print_result(
    result: QueryResult,
    fmt: str,
    table: str,
    output: Path | None,
    served: CacheResult | None,
) -> None:
    if fmt == "table":
        if output:
            raise SpecError("--format table is for the terminal; pick a file format for --output")
        for name, data in result.tables.items():
            console.print(_rich_table(name, data))
        console.print(
            f"build {result.build_id} · query {result.query_hash[:16]} · "
            f"{len(result.rows)} rows · {_served(result, served)}",
            style="dim",
        )
        return
    if table not in result.tables:
        raise SpecError(f"the result has no {table!r} table; it has {', '.join(result.tables)}")
    payload = render(result, fmt, table=table)
    if output:
        output.write_bytes(payload)
        console.print(f"wrote {len(payload):,} bytes of {fmt} to {output}", style="dim")
    elif fmt in SINGLE_TABLE_FORMATS and fmt != "csv" and console.is_terminal:
        raise SpecError(f"{fmt} is binary: write it to a file with --output")
    else:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()


def _served(result: QueryResult, served: CacheResult | None) -> str:
    """How the answer was served, e.g. ``cache hit (warm) 0.4 ms`` or ``cache miss 6.1 ms``."""
    if served is None:
        return f"no cache {result.timings_ms.get('total', 0):.1f} ms"
    if served.hit:
        return f"cache hit ({served.origin or 'read-through'}) {served.latency_ms:.1f} ms"
    if served.source == "degraded":
        return f"cache unavailable {served.latency_ms:.1f} ms"
    return f"cache miss {served.latency_ms:.1f} ms"


def _print_plan(plan: Plan, fmt: str, output: Path | None) -> None:
    if fmt not in ("table", "markdown"):
        text = json.dumps(plan.explain(), indent=2)
        if output:
            output.write_text(text)
        else:
            print(text)
        return
    words = plan.explain_text().partition("\nsql:\n")[0]
    console.print(words, highlight=False, markup=False)
    for title, query in (
        ("sql", plan.main),
        ("overall sql", plan.overall),
        ("head-to-head sql", plan.head_to_head),
    ):
        if query is not None and query.sql:
            console.print(f"{title}:", style="bold")
            console.print(Syntax(query.sql, "sql", word_wrap=True))
            console.print(f"params: {query.params}", highlight=False, markup=False)


def _rich_table(name: str, data: ResultTable) -> Table:
    view = Table(title=name, title_justify="left", header_style="bold")
    numeric = [
        all(isinstance(v, (int, float)) for v in data.column(c) if v is not None)
        for c in data.columns
    ]
    for column, is_number in zip(data.columns, numeric, strict=True):
        view.add_column(column, justify="right" if is_number else "left")
    for row in data.rows:
        view.add_row(*(_cell(v) for v in row))
    return view


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)
