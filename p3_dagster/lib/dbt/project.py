"""The dbt project: where it is, its target, the dbt executable and environment, preparing its manifest."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from p3_common.settings import REPO_ROOT, Settings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@functools.cache
def dbt_project(target: str) -> DbtProject:
    """The P3 dbt project for ``target`` (local | test | prod), profiles.yml inside the project."""
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=target)


def dbt_executable() -> str:
    """The dbt beside this interpreter, so `.venv/bin/p3` works without the venv on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Variables dbt runs with: the warehouse and target P3 uses (profiles.yml reads them), and
    cautious indirect selection, so refreshing a few models (as automation conditions do) skips
    relationship tests whose other side was not built in that run instead of erroring on it."""
    return {
        "P3_DUCKDB_PATH": str(settings.warehouse_path),
        "P3_ENV": settings.env,
        "DBT_INDIRECT_SELECTION": "cautious",
        # Colour codes would end up in the run log and in failure messages.
        "DBT_USE_COLORS": "false",
        "DBT_USE_COLORS_FILE": "false",
    }


def prepare_manifest(settings: Settings) -> Path:
    """Parse the dbt project (``dbt parse``) for ``settings.env``: the manifest the definitions load."""
    project = dbt_project(settings.env)
    parse_manifest(project, dbt_executable(), env=dbt_environment(settings))
    return Path(project.manifest_path)


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
