"""dbt invocation pieces as plain functions: run config, CLI arguments, subprocess environment."""

from __future__ import annotations

import os
import subprocess

import dagster as dg
from dagster_dbt import DbtProject
from pydantic import Field

from p3_common.settings import Settings


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
    """Variables dbt needs to see the same warehouse and target as P3 (profiles.yml reads them)."""
    return {"P3_DUCKDB_PATH": str(settings.warehouse_path), "P3_ENV": settings.env}


def parse_manifest(project: DbtProject, executable: str, *, env: dict[str, str]) -> None:
    """Run ``dbt parse`` to write the manifest the definitions load; raise with dbt's output on failure."""
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
