"""Build flips are atomic for concurrent readers; an unreachable backend never turns into an error."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from p3_query.cache import CacheDegradedWarning, CacheUnavailable, QueryCache, QueryRef, WarmItem
from p3_query.cache.embedded import EmbeddedCache
from p3_query.cache.redis_cache import RedisCache
from p3_query.spec import validate_spec

N_QUERIES = 40
N_BUILDS = 8


def ref(i: int) -> QueryRef:
    return QueryRef.of(
        validate_spec({"entity": "constructor", "ids": [i + 1], "metrics": ["points"]})
    )


def build_items(build: str) -> list[WarmItem]:
    return [WarmItem(ref(i), (lambda i=i: f"{build}|{i}".encode())) for i in range(N_QUERIES)]


def test_a_concurrent_reader_only_ever_sees_one_complete_build(make_cache) -> None:
    writer = make_cache()
    reader = make_cache()  # its own connection, like another process
    writer.warm("b00", build_items("b00"))
    stop = threading.Event()
    seen: list[tuple[str, str]] = []
    errors: list[str] = []

    def never(i: int) -> bytes:
        # Every query is warmed before its build becomes current; a miss means a half-built build.
        errors.append(f"reader missed query {i}")
        return b"?|?"

    def read() -> None:
        i = 0
        while not stop.is_set():
            result = reader.get_or_compute(ref(i % N_QUERIES), lambda i=i: never(i % N_QUERIES))
            payload_build = result.payload.decode().split("|")[0]
            seen.append((str(result.build_id), payload_build))
            i += 1

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for n in range(1, N_BUILDS):
            writer.warm(f"b{n:02d}", build_items(f"b{n:02d}"))
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors
    assert all(build == payload for build, payload in seen), "an answer from another build"
    order = [build for build, _ in seen]
    assert order == sorted(order), "a reader went back to an older build"
    assert len(set(order)) >= 2 and len(seen) > N_BUILDS


def test_redis_killed_mid_test_answers_come_from_the_compute_path(
    own_redis, caplog: pytest.LogCaptureFixture
) -> None:
    # No background flush: the outage must first be noticed by a query, as asserted below.
    cache = RedisCache(own_redis.url, retry_after_s=0.3, background_flush=False)
    cache.warm("b1", [WarmItem(ref(1), lambda: b"cached")])
    assert cache.get_or_compute(ref(1), lambda: b"fresh").hit

    own_redis.kill()
    with caplog.at_level(logging.WARNING), pytest.warns(CacheDegradedWarning):
        result = cache.get_or_compute(ref(1), lambda: b"fresh", build_id="b1")
    assert (result.payload, result.hit, result.source) == (b"fresh", False, "degraded")
    assert "cache unavailable" in caplog.text

    started = time.perf_counter()
    for i in range(50):  # no timeouts per query while the server is down
        assert cache.get_or_compute(ref(i), lambda: b"fresh").source == "degraded"
    assert time.perf_counter() - started < 0.5
    assert cache.metrics["degraded_answers"] == 51 and cache.metrics["outages"] == 1
    with pytest.raises(CacheUnavailable):
        cache.stats()  # an admin call may fail loudly; queries never do

    own_redis.start()  # back, empty (no persistence)
    time.sleep(0.35)
    cache.flip("b2")
    assert cache.get_or_compute(ref(1), lambda: b"again").source == "compute"
    assert cache.get_or_compute(ref(1), lambda: b"again").hit
    # Events buffered before and during the outage were kept and written once it was back.
    stats = cache.stats()
    assert (stats.degraded, stats.misses, stats.hits) == (51, 1, 2)
    cache.close()


def test_redis_that_was_never_reachable_still_answers(tmp_path: Path) -> None:
    from tests.fixtures.servers import free_port

    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.warns(CacheDegradedWarning):
        result = cache.get_or_compute(ref(1), lambda: b"answer")
    assert (result.payload, result.source) == (b"answer", "degraded")
    assert cache.prefetch([WarmItem(ref(2), lambda: b"x")], build_id="b1") == 0
    cache.close()  # buffered events are dropped quietly: nowhere to write them


def test_an_unreadable_embedded_file_degrades_to_the_compute_path(tmp_path: Path) -> None:
    first = EmbeddedCache(tmp_path)
    first.warm("b1", [WarmItem(ref(1), lambda: b"cached")])
    first.close()
    for leftover in tmp_path.glob("p3.sqlite3-*"):
        leftover.unlink()
    first.path.write_bytes(b"this is not a database" * 100)
    cache = EmbeddedCache(tmp_path)
    with pytest.warns(CacheDegradedWarning):
        result = cache.get_or_compute(ref(1), lambda: b"fresh")
    assert (result.payload, result.source) == (b"fresh", "degraded")
    assert cache.metrics["degraded_answers"] == 1


def test_embedded_cache_is_the_default_and_redis_follows_p3_redis_url(
    monkeypatch: pytest.MonkeyPatch, isolated_p3_env: Path, redis_url: str
) -> None:
    from p3_common.settings import load_settings
    from p3_query.cache import open_cache

    embedded: QueryCache = open_cache(load_settings())
    assert isinstance(embedded, EmbeddedCache)
    assert embedded.path == isolated_p3_env / "cache" / "p3.sqlite3"
    monkeypatch.setenv("P3_REDIS_URL", redis_url)
    remote = open_cache(load_settings(), prefix="tdefault")
    assert isinstance(remote, RedisCache) and remote.url == redis_url
    embedded.close()
    remote.close()
