"""dbt invocation pieces as plain functions: run config, CLI arguments, subprocess environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject
from pydantic import Field

from p3_common.settings import Settings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"


class DbtConfig(dg.Config):
    """Run configuration of the dbt models asset (set it in the launchpad)."""

    full_refresh: bool = Field(
        default=False, description="Rebuild incremental models from scratch."
    )
    fail_fast: bool = Field(default=False, description="Stop at the first failing model or test.")


def dbt_build_args(config: DbtConfig) -> list[str]:
    """``dbt build`` arguments: models and their tests together, so a failing test stops downstream models."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.fail_fast:
        args.append("--fail-fast")
    return args


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Variables dbt runs with: the warehouse and target P3 uses (profiles.yml reads them), and
    cautious indirect selection, so refreshing a few models (as automation conditions do) skips
    relationship tests whose other side was not built in that run instead of erroring on it."""
    return {
        "P3_DUCKDB_PATH": str(settings.warehouse_path),
        "P3_ENV": settings.env,
        "DBT_INDIRECT_SELECTION": "cautious",
    }


def parse_manifest(project: DbtProject, executable: str, *, env: dict[str, str]) -> None:
    """Run ``dbt parse`` and atomically install the manifest the definitions load.

    dbt writes its target folder in place; a code server or run worker reading the manifest at
    that moment would see half a file. So parse into a private folder and ``os.replace`` the
    result, keeping dbt's partial-parse cache for the next parse.
    """
    target = Path(project.manifest_path).parent
    scratch = target / f".parse-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        if (target / PARTIAL_PARSE_FILE).exists():
            shutil.copy2(target / PARTIAL_PARSE_FILE, scratch / PARTIAL_PARSE_FILE)
        done = subprocess.run(
            [
                executable,
                "parse",
                "--project-dir",
                str(project.project_dir),
                "--profiles-dir",
                str(project.profiles_dir),
                "--target",
                str(project.target),
                "--target-path",
                str(scratch),
            ],
            env=os.environ | env | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"dbt parse failed in {project.project_dir}:\n{done.stdout}{done.stderr}"
            )
        for name in (PARTIAL_PARSE_FILE, "manifest.json"):  # manifest last: readers key on it
            if (scratch / name).exists():
                os.replace(scratch / name, target / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
