"""dbt's profiles.yml and P3's settings name the same warehouse file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from p3_common.settings import load_settings
from p3_dagster.lib.dbt import DBT_PROJECT_DIR, dbt_environment, dbt_executable


def dbt_debug_path(project_dir: Path, env: dict[str, str]) -> str:
    """The warehouse path dbt resolves for the profile, as `dbt debug` prints it."""
    done = subprocess.run(
        [dbt_executable(), "debug", "--profiles-dir", str(project_dir)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"^\S*\s+path: (.+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout + done.stderr
    return match.group(1).strip()


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """dbt_project.yml + profiles.yml in a scratch folder, so `dbt debug` cannot create a real file."""
    copy = tmp_path / "dbt_project"
    copy.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(DBT_PROJECT_DIR / name, copy / name)
    return copy


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("P3_")}


def test_exported_settings_and_dbt_agree_on_the_warehouse(project_copy: Path) -> None:
    settings = load_settings()  # P3_HOME is the test's tmp folder
    path = dbt_debug_path(project_copy, _clean_env() | dbt_environment(settings))
    assert Path(path) == settings.warehouse_path


def test_bare_dbt_and_default_settings_agree_on_the_warehouse(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("P3_HOME")
    settings = load_settings()  # defaults: <repo>/data/warehouse.duckdb
    path = dbt_debug_path(project_copy, _clean_env())
    # A bare `dbt build` runs from dbt_project/, so its relative default resolves against it.
    assert (DBT_PROJECT_DIR / path).resolve() == settings.warehouse_path


def test_dbt_targets_are_named_like_p3_env() -> None:
    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    for env in ("local", "test", "prod"):
        assert re.search(rf"^\s+{env}:", profiles, re.MULTILINE), env
