"""The dbt project handle: where it is, which target, where its manifest lives."""

from __future__ import annotations

import functools
from pathlib import Path

from dagster_dbt import DbtProject

from p3_common.settings import REPO_ROOT

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@functools.cache
def dbt_project(target: str) -> DbtProject:
    """The P3 dbt project for ``target`` (local | test | prod), profiles.yml inside the project."""
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=target)


def manifest_path(target: str) -> Path:
    """Where the manifest must be before definitions load (``make manifest`` writes it)."""
    return Path(dbt_project(target).manifest_path)
