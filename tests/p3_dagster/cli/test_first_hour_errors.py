"""Settings and source errors of ``p3 materialize`` are one line, exit code 2, and come fast."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from p3_common.settings import REPO_ROOT, Settings
from tests.p3_dagster.cli.p3_process import P3

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the definitions load the manifest

# Before Dagster is imported (~4 s of imports, 7-12 s with the definitions on a loaded machine).
FAST_SECONDS = 6.0


def _materialize(env: dict[str, str]) -> tuple[int, list[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [P3, "materialize"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, time.monotonic() - started


def _assert_one_line_error(code: int, lines: list[str], seconds: float) -> str:
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    assert seconds < FAST_SECONDS, f"{seconds:.1f}s: {lines}"
    return lines[0]


def test_season_the_demo_source_lacks_is_an_error_naming_its_seasons(p3_env) -> None:
    line = _assert_one_line_error(*_materialize(p3_env | {"P3_SEASONS": "1990"}))

    assert "1990" in line
    assert "2020-2024" in line


@pytest.mark.parametrize("layout", ["empty", "missing"])
def test_dump_source_without_data_is_one_line(p3_env, tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "ergast"
    if layout == "empty":
        folder.mkdir()

    line = _assert_one_line_error(
        *_materialize(p3_env | {"P3_SOURCE": "dump", "P3_ERGAST_DIR": str(folder)})
    )

    assert "P3_ERGAST_DIR" in line
    assert str(folder) in line


def test_dump_source_without_a_folder_is_one_line(p3_env) -> None:
    line = _assert_one_line_error(*_materialize(p3_env | {"P3_SOURCE": "dump"}))

    assert "P3_ERGAST_DIR" in line


def test_invalid_setting_is_one_line(p3_env) -> None:
    line = _assert_one_line_error(*_materialize(p3_env | {"P3_SEASONS": "last year"}))

    assert "P3_SEASONS" in line


def test_code_location_refuses_seasons_the_source_lacks(monkeypatch) -> None:
    from p3_dagster.definitions import build_definitions
    from p3_ingest.sources.errors import SourceError

    monkeypatch.setenv("P3_SOURCE", "demo")
    monkeypatch.setenv("P3_SEASONS", "1990,2024")

    with pytest.raises(SourceError, match=r"asks for 1990.*it has 2020-2024"):
        build_definitions(Settings())
