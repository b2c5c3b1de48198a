"""Fixtures that start real ``p3`` processes on the demo source with the test's own P3_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.p3_dagster.cli.p3_process import P3Process


@pytest.fixture
def p3_env(isolated_p3_env: Path) -> dict[str, str]:
    """The environment of a ``p3`` subprocess: demo source, this test's P3_HOME, no inherited instance."""
    env = {k: v for k, v in os.environ.items() if k not in {"DAGSTER_HOME", "MLFLOW_TRACKING_URI"}}
    env["P3_SOURCE"] = "demo"
    env.pop("P3_ERGAST_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "160"
    return env


@pytest.fixture
def start_p3(p3_env: dict[str, str]) -> Iterator:
    """Start ``p3 <args>`` processes; any still running at the end of the test are killed."""
    started: list[P3Process] = []

    def start(*args: str, env: dict[str, str] | None = None) -> P3Process:
        process = P3Process(list(args), env or p3_env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
