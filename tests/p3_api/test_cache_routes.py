"""``/v1/cache/stats`` and ``/v1/cache/clear`` on a real server and the embedded query cache."""

from __future__ import annotations

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi

SPEC = {"entity": "circuit", "metrics": ["races"], "limit": 2}


def test_stats_count_the_queries_and_clear_empties_the_cache(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(snapshot.path, workers=1)
    with server.client() as client:
        client.post("/v1/query", json=SPEC)
        client.post("/v1/query", json={**SPEC, "limit": 3})
        stats = client.get("/v1/cache/stats").json()
        cleared = client.post("/v1/cache/clear", json={})
        after = client.get("/v1/cache/stats").json()
        bad = client.post("/v1/cache/clear", json={"build_id": "../../etc"})
    assert stats["query_cache"]["misses"] >= 2
    assert stats["response_cache"]["entries"] >= 2
    assert cleared.status_code == 200 and cleared.json()["deleted"] >= 2
    assert cleared.json()["response_cache_entries_dropped"] >= 2
    assert after["query_cache"]["misses"] == 0 and after["response_cache"]["entries"] == 0
    assert bad.status_code == 422 and "build_id" in bad.json()["detail"]
