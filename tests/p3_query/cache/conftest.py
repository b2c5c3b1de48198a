"""Fixtures for the cache tests: a real redis-server per session (and one per kill test), caches of both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from p3_query.cache import QueryCache
from p3_query.cache.embedded import EmbeddedCache
from p3_query.cache.redis_cache import RedisCache
from tests.fixtures.servers import MACHINE_REDIS, REDIS_BINARY, RedisServer, free_port


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
