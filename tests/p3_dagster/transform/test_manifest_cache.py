"""The dbt manifest is parsed only when what it is parsed from changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster_dbt import DbtProject

from p3_dagster.lib.dbt import DBT_PROJECT_DIR, dbt_executable, ensure_manifest, manifest_key

ENV = {"P3_ENV": "test"}


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The real dbt project, copied without its target folder and logs."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_the_key_changes_with_any_project_file_the_target_or_the_database(
    project_copy: Path,
) -> None:
    key = manifest_key(project_copy, "test", ENV)
    assert manifest_key(project_copy, "test", ENV) == key
    assert manifest_key(project_copy, "local", ENV) != key
    assert manifest_key(project_copy, "test", ENV | {"P3_DUCKDB_PATH": "/x/other.duckdb"}) != key
    # Only the database name (the file's stem) reaches the manifest, not the folder.
    assert (
        manifest_key(project_copy, "test", ENV | {"P3_DUCKDB_PATH": "/x/warehouse.duckdb"}) == key
    )
    model = project_copy / "models" / "marts" / "core" / "dim_circuits.sql"
    model.write_text(model.read_text() + "\n")
    edited = manifest_key(project_copy, "test", ENV)
    assert edited != key
    key = edited
    (project_copy / "macros" / "new_macro.sql").write_text("{% macro m() %}1{% endmacro %}\n")
    assert manifest_key(project_copy, "test", ENV) != key


@pytest.mark.slow
def test_a_current_manifest_is_not_parsed_again_and_a_changed_project_is(
    project_copy: Path,
) -> None:
    project = DbtProject(project_dir=project_copy, profiles_dir=project_copy, target="test")
    manifest = Path(project.manifest_path)

    assert ensure_manifest(project, dbt_executable(), env=ENV) is True
    parsed_at = manifest.stat().st_mtime_ns
    assert ensure_manifest(project, dbt_executable(), env=ENV) is False
    assert manifest.stat().st_mtime_ns == parsed_at

    docs = project_copy / "models" / "marts" / "core" / "dim_circuits.yml"
    docs.write_text(docs.read_text().replace("description:", "description: Changed.", 1))
    assert ensure_manifest(project, dbt_executable(), env=ENV) is True
    nodes = json.loads(manifest.read_text())["nodes"]
    assert nodes["model.p3.dim_circuits"]["description"].startswith("Changed.")
    assert ensure_manifest(project, dbt_executable(), env=ENV, force=True) is True
