"""The dbt project: where it is, its target, the dbt executable and environment, preparing its manifest."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DbtProject

from p3_common.settings import REPO_ROOT, Settings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"

# Written next to manifest.json once a parse installed it: the key of the inputs it was parsed from.
MANIFEST_KEY_FILE = "manifest.key"

# What a manifest is parsed from, relative to the project folder (dbt_project.yml's paths).
PROJECT_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "macros",
    "tests",
    "seeds",
    "snapshots",
    "analyses",
)

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@functools.cache
def dbt_project(target: str) -> DbtProject:
    """The P3 dbt project for ``target`` (local | test | prod), profiles.yml inside the project.

    Each target has its own folder under ``target/``, so a test session and ``make run`` in the
    same checkout keep their manifests instead of re-parsing over each other's.
    """
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target=target,
        target_path=Path("target") / target,
    )


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


def prepare_manifest(settings: Settings, *, force: bool = False) -> Path:
    """The manifest the definitions load for ``settings.env``, parsed (``dbt parse``) only when the
    project's files, the target, the warehouse's database name or the dbt version changed since
    the manifest in place was parsed (or ``force``)."""
    project = dbt_project(settings.env)
    ensure_manifest(project, dbt_executable(), env=dbt_environment(settings), force=force)
    return Path(project.manifest_path)


def ensure_manifest(
    project: DbtProject, executable: str, *, env: dict[str, str], force: bool = False
) -> bool:
    """Parse unless the manifest in place was parsed from the same inputs; True if it parsed.

    A full ``dbt parse`` costs 12-25 s on every clean start even when nothing changed; the key of
    the inputs (see ``manifest_key``) is a few milliseconds of hashing.
    """
    recorded = Path(project.manifest_path).parent / MANIFEST_KEY_FILE
    key = manifest_key(Path(project.project_dir), str(project.target), env)
    if (
        not force
        and Path(project.manifest_path).exists()
        and recorded.exists()
        and recorded.read_text().strip() == key
    ):
        return False
    parse_manifest(project, executable, env=env)
    return True


def manifest_key(project_dir: Path, target: str, env: dict[str, str]) -> str:
    """A hash of everything a parse reads: each project file's path and bytes, the target, the
    warehouse's database name (dbt names relations after the DuckDB file) and the dbt versions."""
    database = Path(env.get("P3_DUCKDB_PATH") or "warehouse.duckdb").stem
    digest = hashlib.sha256(
        f"dbt-core {version('dbt-core')}, dbt-duckdb {version('dbt-duckdb')}, "
        f"target {target}, database {database}\n".encode()
    )
    for name in PROJECT_INPUTS:
        root = project_dir / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.exists():
                digest.update(f"{path.relative_to(project_dir).as_posix()}\0".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def parse_manifest(project: DbtProject, executable: str, *, env: dict[str, str]) -> None:
    """Run ``dbt parse`` and atomically install the manifest the definitions load.

    dbt writes its target folder in place; a code server or run worker reading the manifest at
    that moment would see half a file. So parse into a private folder and ``os.replace`` the
    result, keeping dbt's partial-parse cache for the next parse. The key of the inputs goes in
    last (``MANIFEST_KEY_FILE``), so a manifest is never taken for current under a stale key.
    """
    target = Path(project.manifest_path).parent
    key = manifest_key(Path(project.project_dir), str(project.target), env)
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
        (target / MANIFEST_KEY_FILE).unlink(missing_ok=True)
        (scratch / MANIFEST_KEY_FILE).write_text(key + "\n")
        # The manifest after the parse cache (readers key on it), the key after the manifest.
        for name in (PARTIAL_PARSE_FILE, "manifest.json", MANIFEST_KEY_FILE):
            if (scratch / name).exists():
                os.replace(scratch / name, target / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
