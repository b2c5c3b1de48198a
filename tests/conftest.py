"""Session-wide fixtures: where the real Ergast data is, and isolation of every test from the user's P3_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The shared real data sits beside the checkout in the development workspace; P3_ERGAST_DIR overrides.
DEFAULT_ERGAST_DIR = REPO_ROOT.parent / "shared" / "data" / "ergast"


def real_ergast_dir() -> Path | None:
    """The real Ergast CSV folder, or None when this machine does not have it."""
    configured = os.environ.get("P3_ERGAST_DIR")
    candidate = Path(configured) if configured else DEFAULT_ERGAST_DIR
    return candidate if (candidate / "results.csv").is_file() else None


@pytest.fixture(scope="session")
def ergast_dir() -> Path:
    """The real Ergast CSV folder (1950-2024); skips the test when it is absent."""
    found = real_ergast_dir()
    if found is None:
        pytest.skip(
            "real Ergast data not found: set P3_ERGAST_DIR to a folder holding results.csv "
            f"(looked in {os.environ.get('P3_ERGAST_DIR') or DEFAULT_ERGAST_DIR})"
        )
    return found


@pytest.fixture(autouse=True)
def isolated_p3_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every P3 path at the test's tmp folder so no test touches ./data or another test's files."""
    home = tmp_path / "p3_home"
    home.mkdir()
    for var in list(os.environ):
        if var.startswith("P3_") and var != "P3_ERGAST_DIR":
            monkeypatch.delenv(var)
    monkeypatch.setenv("P3_ENV", "test")
    monkeypatch.setenv("P3_HOME", str(home))
    return home
