"""Running dbt: the run config and CLI arguments of ``dbt build``, readable failures, relation metadata."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field


class DbtConfig(dg.Config):
    """Run configuration of the dbt models asset (set it in the launchpad)."""

    fail_fast: bool = Field(default=False, description="Stop at the first failing model or test.")
    only_changed: bool = Field(
        default=True,
        description="Rebuild and test only what is downstream of the raw tables that changed since "
        "the last complete build (everything when the dbt project changed); off: everything.",
    )


def dbt_build_args(config: DbtConfig, exclude: Sequence[str] = ()) -> list[str]:
    """``dbt build`` arguments: models and their tests together, so a failing test stops
    downstream models; ``exclude`` names the nodes a build that only redoes changes leaves out."""
    args = ["build"]
    if config.fail_fast:
        args.append("--fail-fast")
    if exclude:
        args += ["--exclude", " ".join(exclude)]
    return args


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FAILED_STATUSES = ("error", "fail", "runtime error")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def failure_summary(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> str | None:
    """A readable account of a failed dbt invocation from its ``run_results.json``: how many nodes
    failed and were skipped, then one line per failed node (type, name, model under test, dbt's
    message). None when nothing failed."""
    results = run_results.get("results") or []
    failed = [r for r in results if str(r.get("status")).lower() in FAILED_STATUSES]
    if not failed:
        return None
    skipped = sum(1 for r in results if str(r.get("status")).lower() == "skipped")
    nodes = manifest.get("nodes") or {}
    lines = [
        f"dbt build failed: {len(failed)} of {len(results)} nodes failed"
        + (f", {skipped} skipped because of them" if skipped else "")
        + "."
    ]
    for result in failed:
        unique_id = str(result.get("unique_id", "?"))
        node = nodes.get(unique_id) or {}
        kind = node.get("resource_type") or unique_id.split(".", 1)[0]
        name = node.get("name") or unique_id.rsplit(".", 1)[-1]
        on = node.get("attached_node") or ""
        under_test = f" on {on.rsplit('.', 1)[-1]}" if kind in ("test", "unit_test") and on else ""
        failures = result.get("failures")
        rows = f", {failures} failing rows" if kind == "test" and failures else ""
        message = " ".join(strip_ansi(str(result.get("message") or "")).split())
        lines.append(f"- {kind} {name}{under_test} ({result['status']}{rows}): {message}")
    return "\n".join(lines)


def relation_metadata(
    warehouse: Path, relations: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[list[tuple[str, str]], int]]:
    """Columns (name, type) and row count of each ``(schema, name)`` relation in ``warehouse``.

    Read after dbt has finished, from a read-only connection that is closed before returning:
    DuckDB has one writer, so dagster-dbt's ``fetch_row_counts`` / ``fetch_column_metadata``,
    which query while dbt still holds the file, cannot run against it. Relations that do not exist
    (not built in this run) are left out.
    """
    wanted = set(relations)
    if not wanted or not warehouse.exists():
        return {}
    found: dict[tuple[str, str], tuple[list[tuple[str, str]], int]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for schema, table, column, data_type in con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() order by column_index"
        ).fetchall():
            if (schema, table) in wanted:
                columns.setdefault((schema, table), []).append((column, data_type))
        for schema, table in sorted(columns):
            (count,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            found[(schema, table)] = (columns[(schema, table)], int(count))
    return found


def build_marts_without_tests(
    project_dir: Path, executable: str, warehouse: Path, scratch: Path, *, target: str
) -> subprocess.CompletedProcess[str]:
    """``dbt build`` of every model up to the marts into ``warehouse``, dbt tests skipped.

    For benchmarks and test fixtures that need the marts without a Dagster run; dbt's target and
    logs go to ``scratch`` so the project's own manifest is never touched. The caller checks
    ``returncode`` (output is captured for its error message).
    """
    return subprocess.run(
        [
            executable,
            "build",
            "--quiet",
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
            "--select",
            "+marts",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target",
            target,
            "--target-path",
            str(scratch / "dbt_target"),
            "--log-path",
            str(scratch / "dbt_logs"),
        ],
        env=os.environ
        | {
            "P3_DUCKDB_PATH": str(warehouse),
            "P3_ENV": target,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        check=False,
    )
