"""A real API server (``python -m p3_api``: uvicorn with worker processes) on the session's
published snapshot, and helpers to start more of them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import redis

from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from p3_common.settings import REPO_ROOT
from tests.fixtures.servers import free_port
from tests.fixtures.snapshots import PublishedSnapshot

REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT = 120  # workers import FastAPI, DuckDB and p3_query: seconds on a busy 2-core machine


@dataclass
class ApiServer:
    """One ``python -m p3_api`` process group, its base URL and an admin API key of its store."""

    process: subprocess.Popen
    base_url: str
    log: Path
    admin_key: str

    def client(self, *, anonymous: bool = False, **kwargs: Any) -> httpx.Client:
        """An HTTP client for the server, sending the admin key unless ``anonymous``."""
        headers = dict(kwargs.pop("headers", {}))
        if not anonymous:
            headers.setdefault("X-API-Key", self.admin_key)
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def launch(snapshot: Path, folder: Path, *, workers: int = 2, **env: str) -> ApiServer:
    """Start ``python -m p3_api`` on ``snapshot`` and wait until it answers ``/healthz``."""
    port = free_port()
    log = folder / f"api-{port}.log"
    # The key store the server reads ($P3_HOME/api/keys.sqlite3), with one admin key for tests.
    store = SqliteStore(folder / "home" / "api" / "keys.sqlite3")
    _, admin_key = store.create("api_key", "tests", Role.admin)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("P3_API_")}
    environment |= {
        "P3_HOME": str(folder / "home"),
        "P3_SERVING_DUCKDB_PATH": str(snapshot),
        "P3_API_PORT": str(port),
        "P3_API_WORKERS": str(workers),
        "PYTHONUNBUFFERED": "1",
        # Limits far above what a test sends; the rate-limit tests set their own.
        "P3_API_RATE_ANONYMOUS": "100000/minute",
        "P3_API_RATE_VIEWER": "100000/minute",
        "P3_API_RATE_ANALYST": "100000/minute",
        "P3_API_RATE_ADMIN": "100000/minute",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "p3_api"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = ApiServer(process, f"http://127.0.0.1:{port}", log, admin_key)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the API exited:\n{server.output()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"the API did not start:\n{server.output()}")
        time.sleep(0.3)


def publish_copy(source: Path, served: Path, build: str) -> None:
    """Publish ``source`` at ``served`` under build id ``build`` as publish_snapshot does: write
    a new file beside the served one, then ``os.replace`` it over it."""
    staged = served.with_name(f"{build}.staged.duckdb")
    shutil.copyfile(source, staged)
    with duckdb.connect(str(staged)) as con:
        con.execute("update p3_meta.build set build_id = ?", [build])
    staged.replace(served)


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (tests use fresh identities, so they never need to flush it)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


StartApi = Callable[..., ApiServer]


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[StartApi]:
    """Start API servers (``launch`` arguments); every one is stopped after the test."""
    started: list[ApiServer] = []

    def start(snapshot: Path, **kwargs: object) -> ApiServer:
        server = launch(snapshot, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def api(
    tmp_path_factory: pytest.TempPathFactory, snapshot: PublishedSnapshot
) -> Iterator[ApiServer]:
    """One server with two workers on the session's snapshot, shared by the tests that only
    read through it (a test that changes what a server holds starts its own: ``start_api``)."""
    server = launch(snapshot.path, tmp_path_factory.mktemp("api"))
    yield server
    server.stop()
