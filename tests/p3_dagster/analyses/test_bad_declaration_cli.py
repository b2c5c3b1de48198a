"""A bad analysis declaration stops ``p3 materialize`` with one line on stderr (file, line, what is
allowed), not a traceback; Dagster's own loaders show the same line first.

The bad YAML must sit in the analyses folder the code location loads, but this checkout is shared
while tests run: the subprocess gets a copy of ``p3_dagster`` (first on PYTHONPATH) whose
``defs/analyses`` holds one extra, broken declaration; everything else is the checkout's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from p3_common.settings import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

P3 = str(Path(sys.executable).parent / "p3")
# constructor_battle with a misspelt metric in its custom metric (line 20 of the file).
TYPO = ("points_per_race: points / races", "points_per_race: points / racez")


@pytest.fixture
def broken_location(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of p3_dagster with ``defs/analyses/zz_broken/defs.yaml``; (overlay root, yaml)."""
    overlay = tmp_path / "overlay"
    shutil.copytree(
        REPO_ROOT / "p3_dagster",
        overlay / "p3_dagster",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    source = REPO_ROOT / "p3_dagster/defs/analyses/constructor_battle/defs.yaml"
    text = source.read_text()
    assert TYPO[0] in text
    broken = overlay / "p3_dagster/defs/analyses/zz_broken/defs.yaml"
    broken.parent.mkdir()
    broken.write_text(text.replace(*TYPO))
    return overlay, broken


def _env(overlay: Path, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("P3_") and k not in {"DAGSTER_HOME", "MLFLOW_TRACKING_URI"}
    }
    return env | {
        "PYTHONPATH": str(overlay),
        "P3_ENV": "test",  # the manifest the dbt_manifest fixture prepared
        "P3_SOURCE": "demo",
        "P3_HOME": str(home),
        "COLUMNS": "160",
    }


def _expected_line(broken: Path) -> str:
    line = TYPO[1]
    number = broken.read_text().splitlines().index(f"    {line}") + 1
    return (
        f"{broken}:{number}: custom metric 'points_per_race': line 1, column 10: "
        "unknown metric 'racez'; did you mean 'races'?"
    )


def test_p3_materialize_with_a_bad_analysis_prints_one_line_and_exits_2(
    broken_location: tuple[Path, Path], tmp_path: Path
) -> None:
    overlay, broken = broken_location
    done = subprocess.run(
        [P3, "materialize"],
        cwd=REPO_ROOT,
        env=_env(overlay, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"p3: {_expected_line(broken)} metrics here: "), lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    # It stopped at the definitions: no run was started, nothing was materialised.
    assert "materialising" not in done.stdout
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_dagster_definitions_validate_shows_the_line_and_not_the_validator(
    broken_location: tuple[Path, Path], tmp_path: Path
) -> None:
    overlay, broken = broken_location
    env = _env(overlay, tmp_path / "home") | {"DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "p3_dagster.definitions",
        ],
        cwd=overlay,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"AnalysisConfigError: {_expected_line(broken)}" in output
    # Dagster prints the stack of the load; the validator's own frames are cut off.
    assert "p3_reports/analyses/config.py" not in output
    assert "analyses/__init__.py" in output
