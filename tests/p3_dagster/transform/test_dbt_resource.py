"""The dbt resource knows its dbt version without starting dbt (dagster-dbt runs `dbt --version`
before every invocation otherwise)."""

from __future__ import annotations

import re
import subprocess

from p3_common.settings import get_settings
from p3_dagster.lib.dbt import build_dbt_resource


def test_the_dbt_version_is_the_one_the_executable_reports() -> None:
    resource = build_dbt_resource(get_settings())
    reported = subprocess.run(
        [resource.dbt_executable, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"installed: (\d+\.\d+\.\d+)", reported)
    assert match is not None, reported
    assert str(resource._cli_version) == match.group(1)


def test_another_dbt_executable_is_asked_for_its_version(tmp_path) -> None:
    other_dbt = tmp_path / "dbt"
    other_dbt.write_text("#!/bin/sh\necho 'Core:\n  - installed: 9.8.7'\n")
    other_dbt.chmod(0o755)
    resource = build_dbt_resource(get_settings()).model_copy(
        update={"dbt_executable": str(other_dbt)}
    )
    assert str(resource._cli_version) == "9.8.7"
