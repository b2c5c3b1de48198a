"""Fixtures for the cache tests: a real redis-server per session (and one per kill test), caches of both backends."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from p3_query.cache import QueryCache
from p3_query.cache.embedded import EmbeddedCache
from p3_query.cache.redis_cache import RedisCache

REDIS_BINARY = shutil.which("redis-server")
MACHINE_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class RedisServer:
    """A redis-server process on a free loopback port, with no persistence."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert REDIS_BINARY is not None
        self.process = subprocess.Popen(
            [
                REDIS_BINARY,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server started for this session, or the machine's one if the binary is missing.

    On the machine's server every test uses its own key prefix and clears only that prefix.
    """
    if REDIS_BINARY is None:
        yield MACHINE_REDIS
        return
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server this test may kill."""
    if REDIS_BINARY is None:
        pytest.skip("redis-server binary not found: cannot kill the machine's Redis")
    server = RedisServer(free_port(), tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.kill()


CacheFactory = Callable[..., QueryCache]


@pytest.fixture(params=["embedded", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_cache(backend: str, redis_url: str, tmp_path: Path) -> Iterator[CacheFactory]:
    """Open caches of the parametrised backend sharing one store (like separate processes would)."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    opened: list[QueryCache] = []

    def make(**options: Any) -> QueryCache:
        options.setdefault("prefix", prefix)
        if backend == "redis":
            cache: QueryCache = RedisCache(redis_url, **options)
        else:
            cache = EmbeddedCache(tmp_path / "cache", **options)
        opened.append(cache)
        return cache

    yield make
    if backend == "redis" and opened:
        opened[0].clear()  # only this test's prefix
    for cache in opened:
        cache.close()


@pytest.fixture
def cache(make_cache: CacheFactory) -> QueryCache:
    return make_cache()
