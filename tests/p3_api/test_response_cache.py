"""The response cache: L1 bounded by bytes, ETag/304, hits by tier, and old builds dropped in
every process within a second of a publish."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

import httpx

from p3_api.response_cache import BuildWatcher, Entry, ResponseL1, etag, matches, request_key
from p3_query.cache.redis_cache import RedisCache
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi, publish_copy
from .test_metrics import samples

SPEC = {"entity": "constructor", "metrics": ["wins"], "limit": 3, "order_by": ["-wins"]}


def test_l1_evicts_the_least_recently_used_to_stay_within_its_bytes() -> None:
    l1 = ResponseL1(max_bytes=1000)
    for name in "abcde":
        l1.put(name, Entry("b1", name.encode() * 200, "application/json"))
    assert len(l1) == 5 and l1.size_bytes == 1000
    assert l1.get("a") is not None  # "a" is now the most recently used; "b" the least
    l1.put("f", Entry("b1", b"f" * 200, "application/json"))
    assert l1.get("b") is None and l1.get("a") is not None and l1.size_bytes == 1000
    l1.put("huge", Entry("b1", b"x" * 251, "application/json"))  # over a quarter: not kept
    assert l1.get("huge") is None and l1.get("c") is not None


def test_l1_keeps_only_the_builds_being_served() -> None:
    l1 = ResponseL1(max_bytes=10_000)
    l1.put("old", Entry("b1", b"1", "text/csv"))
    l1.put("new", Entry("b2", b"2", "text/csv"))
    assert l1.keep_builds({"b2"}) == 1
    assert l1.get("old") is None and l1.get("new") is not None


def test_etags_name_the_build_and_the_request() -> None:
    key = request_key("POST /v1/query", '{"entity":"driver"}', "json")
    assert key != request_key("POST /v1/query", '{"entity":"driver"}', "csv")
    tag = etag("b1", key)
    assert matches(tag, tag) and matches(f'W/{tag}, "other"', tag) and matches("*", tag)
    assert not matches(etag("b2", key), tag) and not matches(None, tag)


def l1_hits(client: httpx.Client) -> float:
    return sum(
        value
        for labels, value in samples(client.get("/metrics").text, "p3_api_response_cache_total")
        if labels == {"tier": "l1", "result": "hit"}
    )


def test_a_repeated_query_is_an_l1_hit_and_a_revalidation_is_a_304(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(snapshot.path, workers=1)
    with server.client() as client:
        first = client.post("/v1/query", json=SPEC)
        hits = l1_hits(client)
        second = client.post("/v1/query", json=SPEC)
        revalidated = client.post(
            "/v1/query", json=SPEC, headers={"If-None-Match": first.headers["etag"]}
        )
        other_format = client.post("/v1/query", json=SPEC, headers={"Accept": "text/csv"})
        assert l1_hits(client) - hits == 2  # the second and the revalidated request
    assert first.status_code == second.status_code == 200
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == first.headers["etag"]
    assert other_format.headers["etag"] != first.headers["etag"]


def test_a_publish_reaches_every_process_within_a_second(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    served = tmp_path / "serving.duckdb"
    shutil.copyfile(snapshot.path, served)
    servers = [start_api(served, workers=1), start_api(served, workers=1)]
    clients = [server.client() for server in servers]
    old = {c.post("/v1/query", json=SPEC).headers["x-p3-build"] for c in clients}
    assert {c.post("/v1/query", json=SPEC).headers["x-p3-build"] for c in clients} == old  # L1
    publish_copy(snapshot.path, served, "flipped")
    time.sleep(1.0)
    after = [c.post("/v1/query", json=SPEC) for c in clients]
    for client in clients:
        client.close()
    assert old != {"flipped"}
    assert [r.headers["x-p3-build"] for r in after] == ["flipped", "flipped"]


def test_ergast_answers_are_cached_for_anonymous_clients_with_an_etag(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(snapshot.path, workers=1)
    with server.client(anonymous=True) as client:
        first = client.get("/ergast/f1/circuits.json", params={"limit": 5})
        hits = l1_hits(client)
        again = client.get("/ergast/f1/circuits.json", params={"limit": 5})
        revalidated = client.get(
            "/ergast/f1/circuits.json",
            params={"limit": 5},
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert l1_hits(client) - hits == 2
    assert first.status_code == 200 and first.json()["MRData"]["limit"] == "5"
    assert again.content == first.content
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert revalidated.status_code == 304


def test_a_flip_announced_through_redis_drops_the_old_build_without_waiting_for_a_poll(
    redis_url: str,
) -> None:
    cache = RedisCache(redis_url, prefix=f"p3test{secrets.token_hex(4)}")
    cache.flip("b1")
    l1 = ResponseL1(max_bytes=10_000)
    # Polling once an hour: only the announcement can drop the entry within the second.
    watcher = BuildWatcher(l1, [cache.current_build], announcements=cache.flips, interval=3600)
    watcher.start()
    try:
        l1.put("answer", Entry("b1", b"old", "application/json"))
        time.sleep(0.5)  # the subscription is in place
        cache.flip("b2")
        deadline = time.monotonic() + 1.0
        while l1.get("answer") is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert l1.get("answer") is None
    finally:
        watcher.stop()
        cache.clear()
        cache.close()
