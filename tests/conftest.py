"""Session-wide fixtures: where the real Ergast data is, and isolation of every test from the user's P3_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.real_data import real_ergast_dir, where_we_looked
from tests.fixtures.servers import REDIS_BINARY, RedisServer, free_port


@pytest.fixture(scope="session")
def ergast_dir() -> Path:
    """The real Ergast CSV folder (1950-2024); skips the test when it is absent."""
    found = real_ergast_dir()
    if found is None:
        pytest.skip(
            "real Ergast data not found: set P3_ERGAST_DIR to a folder holding results.csv "
            f"(looked in {where_we_looked()})"
        )
    return found


# Settings of the test run itself, not of the code under test: kept for every test.
WHERE_THE_REAL_DATA_IS = ("P3_ERGAST_DIR", "P3_ERGAST_SAMPLES_DIR")


@pytest.fixture(autouse=True)
def isolated_p3_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every P3 path at the test's tmp folder so no test touches ./data or another test's files."""
    home = tmp_path / "p3_home"
    home.mkdir()
    for var in list(os.environ):
        if var.startswith("P3_") and var not in WHERE_THE_REAL_DATA_IS:
            monkeypatch.delenv(var)
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI: one test's store must not leak
    # into the next test's settings.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("P3_ENV", "test")
    monkeypatch.setenv("P3_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest of the test target, parsed at most once per session and only when the
    project changed since the last parse, for the tests that load the definitions (which read the
    manifest, never parse it): ``pytestmark = pytest.mark.usefixtures("dbt_manifest")``."""
    from p3_dagster.lib.dbt import dbt_executable, dbt_project, ensure_manifest

    project = dbt_project("test")
    ensure_manifest(project, dbt_executable(), env={"P3_ENV": "test"})
    return Path(project.manifest_path)


@pytest.fixture(scope="session")
def dbt_manifests_of_every_target(dbt_manifest: Path) -> None:
    """The manifests of the other targets too (local, prod), for the tests that load the
    definitions under every ``P3_ENV``. A fresh checkout has none of them (``make run`` prepares
    only ``local``), so those tests must not depend on which command ran before them."""
    from typing import get_args

    from p3_common.settings import Environment
    from p3_dagster.lib.dbt import dbt_executable, dbt_project, ensure_manifest

    for target in get_args(Environment):
        ensure_manifest(dbt_project(target), dbt_executable(), env={"P3_ENV": target})


# The whole real graph and the published snapshot shared by the query engine and API tests
# (each built once per session).
from tests.fixtures.snapshots import real_graph, snapshot  # noqa: E402, F401


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own on a free port: the test may kill it (as a crash would),
    and its statistics count only the test's calls. Skips when redis-server is not installed."""
    if REDIS_BINARY is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(free_port(), tmp_path / "redis").start()
    yield server
    server.kill()
