"""The cache contract, run unchanged against the embedded (SQLite) and the Redis backend."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from p3_query.cache import Computed, QueryCache, QueryRef, TtlPolicy, WarmItem, entry_key
from p3_query.cache.embedded import EmbeddedCache
from p3_query.cache.redis_cache import RedisCache
from p3_query.spec import validate_spec

REPO = Path(__file__).resolve().parents[3]


def ref(i: int, metric: str = "wins") -> QueryRef:
    return QueryRef.of(
        validate_spec(
            {"entity": "driver", "ids": [i + 1], "metrics": [metric], "seasons": [2020, 2021]}
        )
    )


class Computer:
    """A compute function that counts its calls and labels answers with a build."""

    def __init__(self, label: str = "snap") -> None:
        self.label = label
        self.calls = 0

    def __call__(self, i: int = 0) -> bytes:
        self.calls += 1
        return f"{self.label}:{i}".encode()


def items(build: str, n: int, start: int = 0) -> list[WarmItem]:
    return [
        WarmItem(ref(i), (lambda i=i: f"{build}:{i}".encode()), popularity=i)
        for i in range(start, start + n)
    ]


def raw_key_exists(cache: QueryCache, key: str) -> bool:
    if isinstance(cache, RedisCache):
        return bool(cache.client.exists(key))
    assert isinstance(cache, EmbeddedCache)
    return (
        cache._con().execute("SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone() is not None
    )


def test_a_miss_is_computed_stored_under_the_build_and_then_hit(cache: QueryCache) -> None:
    compute = Computer()
    first = cache.get_or_compute(ref(1), lambda: compute(1), build_id="b1")
    second = cache.get_or_compute(ref(1), lambda: compute(1), build_id="b1")
    assert (first.hit, first.source, first.build_id) == (False, "compute", "b1")
    assert (second.hit, second.source, second.origin) == (True, "cache", "read-through")
    assert first.payload == second.payload == b"snap:1"
    assert compute.calls == 1
    key = entry_key("b1", ref(1).query_hash, cache.prefix)
    assert key == f"{cache.prefix}:b1:{ref(1).query_hash}"
    assert raw_key_exists(cache, key)


def test_without_any_build_nothing_is_cached_and_every_query_is_computed(cache: QueryCache) -> None:
    compute = Computer()
    for _ in range(2):
        result = cache.get_or_compute(ref(1), lambda: compute(1))
        assert not result.hit and result.build_id is None
    assert compute.calls == 2


def test_equivalent_specs_share_an_entry(cache: QueryCache) -> None:
    cache.flip("b1")
    compute = Computer()
    first = validate_spec({"metrics": ["wins", "poles"], "entity": "driver", "ids": [2, 1]})
    same = validate_spec({"entity": "driver", "ids": [1, 2], "metrics": ["poles", "wins"]})
    cache.get_or_compute(QueryRef.of(first), compute)
    assert cache.get_or_compute(QueryRef.of(same), compute).hit
    assert compute.calls == 1


def test_query_specs_from_the_engine_are_keyed_by_their_query_hash(cache: QueryCache) -> None:
    query = validate_spec({"entity": "constructor", "ids": ["ferrari"], "metrics": ["wins"]})
    cache.flip("b1")
    cache.get_or_compute(QueryRef.of(query), lambda: b"x")
    assert cache.cached_hashes("b1", [query.query_hash]) == {query.query_hash}
    assert cache.spec_jsons([query.query_hash]) == {query.query_hash: query.canonical_json()}


def test_warming_fills_the_new_build_then_flips_current_to_it(cache: QueryCache) -> None:
    compute = Computer()
    cache.get_or_compute(ref(0), lambda: compute(0), build_id="b1")  # already cached for b1
    failing = WarmItem(ref(99), lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    report = cache.warm("b1", [*items("b1", 5), failing])
    assert cache.current_build() == "b1"
    assert (report.requested, report.computed, report.already_cached, report.failed) == (6, 4, 1, 1)
    assert report.previous_build is None and report.flipped
    hit = cache.get_or_compute(ref(3), lambda: compute(3))
    assert (hit.hit, hit.payload, hit.origin, hit.build_id) == (True, b"b1:3", "warm", "b1")
    assert compute.calls == 1


def test_readers_are_served_only_from_the_current_build(cache: QueryCache) -> None:
    cache.warm("b1", items("b1", 3))
    cache.warm("b2", items("b2", 2))  # b2 lacks query 2
    assert cache.get_or_compute(ref(1), lambda: b"never").payload == b"b2:1"
    compute = Computer("b2-snapshot")
    miss = cache.get_or_compute(ref(2), lambda: compute(2), build_id="b2")
    assert (miss.hit, miss.payload, miss.build_id) == (False, b"b2-snapshot:2", "b2")
    assert compute.calls == 1


def test_a_miss_against_a_newer_snapshot_is_stored_under_that_build_not_the_current_one(
    cache: QueryCache,
) -> None:
    cache.warm("b1", items("b1", 1))
    # The snapshot was republished as b2 but the cache asset has not flipped yet.
    result = cache.get_or_compute(ref(7), lambda: b"from-b2", build_id="b2")
    assert result.build_id == "b2"
    query_hash = ref(7).query_hash
    assert cache.cached_hashes("b1", [query_hash]) == set()
    assert cache.cached_hashes("b2", [query_hash]) == {query_hash}
    report = cache.warm("b2", items("b2", 1, start=7))
    assert report.already_cached == 1  # not recomputed by warming
    assert cache.get_or_compute(ref(7), lambda: b"never").payload == b"from-b2"


def test_a_computed_value_comes_back_and_its_payload_is_stored_under_the_callers_build(
    cache: QueryCache,
) -> None:
    cache.warm("b1", items("b1", 1))
    # The caller (CachedEngine) read build_id on the lease compute runs on: b2, not current b1.
    result = cache.get_or_compute(ref(5), lambda: Computed(b"x", "value"), build_id="b2")
    assert (result.build_id, result.payload, result.value, result.hit) == (
        "b2",
        b"x",
        "value",
        False,
    )
    query_hash = ref(5).query_hash
    assert cache.cached_hashes("b2", [query_hash]) == {query_hash}
    assert cache.cached_hashes("b1", [query_hash]) == set()


def test_old_builds_are_retired_to_a_short_grace_ttl_after_a_flip(make_cache) -> None:
    cache = make_cache(ttl=TtlPolicy(retire_grace_s=0.3))
    cache.warm("b1", items("b1", 4))
    report = cache.warm("b2", items("b2", 4))
    assert report.retired_entries == 4 and report.previous_build == "b1"
    remaining = cache.entry_ttl_s("b1", ref(0))
    assert remaining is not None and remaining <= 0.3
    assert cache.entry_ttl_s("b2", ref(0)) > 3000  # type: ignore[operator]
    time.sleep(0.45)
    hashes = [ref(i).query_hash for i in range(4)]
    assert cache.cached_hashes("b1", hashes) == set()
    assert cache.cached_hashes("b2", hashes) == set(hashes)


def test_ttl_grows_with_popularity(make_cache) -> None:
    cache = make_cache(ttl=TtlPolicy(base_s=100, min_s=10, max_s=10_000, ref_cost_ms=10))
    cache.flip("b1")
    cache.get_or_compute(ref(1), lambda: b"popular")
    cache.get_or_compute(ref(2), lambda: b"once")
    for _ in range(15):
        assert cache.get_or_compute(ref(1), lambda: b"x").hit
    popular = cache.entry_ttl_s("b1", ref(1))
    once = cache.entry_ttl_s("b1", ref(2))
    assert once is not None and popular is not None
    assert once == pytest.approx(100, abs=5)  # 0 hits, ~0 ms: the base
    assert popular == pytest.approx(100 * (1 + 4), rel=0.1)  # 15 hits: 1 + log2(16) = 5


def test_ttl_grows_with_cost_when_warming(make_cache) -> None:
    cache = make_cache(ttl=TtlPolicy(base_s=100, min_s=10, max_s=10_000, ref_cost_ms=10))

    def slow() -> bytes:
        time.sleep(0.07)  # 70 ms: 1 + log2(1 + 7) = 4
        return b"slow"

    cache.warm("b1", [WarmItem(ref(1), slow), WarmItem(ref(2), bytes)])
    assert cache.entry_ttl_s("b1", ref(1)) == pytest.approx(400, rel=0.1)
    assert cache.entry_ttl_s("b1", ref(2)) == pytest.approx(100, rel=0.05)


def test_stats_count_hits_misses_latency_and_rank_queries(make_cache) -> None:
    cache = make_cache()
    cache.warm("b1", items("b1", 2))

    def expensive() -> bytes:
        time.sleep(0.02)
        return b"e"

    cache.get_or_compute(ref(5), expensive)
    for _ in range(3):
        cache.get_or_compute(ref(0), bytes)
    cache.get_or_compute(ref(1), bytes)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.requests) == (4, 1, 5)
    assert stats.hit_ratio == pytest.approx(0.8)
    assert stats.hits_by_origin == {"read-through": 0, "warm": 4, "prefetch": 0}
    assert stats.latency["hit"]["count"] == 4 and stats.latency["miss"]["count"] == 1
    assert stats.latency["miss"]["p95_ms"] >= 20 > stats.latency["hit"]["p95_ms"]
    assert stats.hottest[0].query_hash == ref(0).query_hash
    assert stats.hottest[0].requests == 3
    assert stats.most_expensive[0].query_hash == ref(5).query_hash
    assert stats.most_expensive[0].max_cost_ms >= 20
    assert stats.current_build == "b1" and stats.entries == 3
    assert stats.memory_bytes > 0
    # Another client of the same store (another process) reads the same figures.
    again = make_cache().stats()
    assert (again.hits, again.misses, again.entries) == (4, 1, 3)


def test_the_query_log_keeps_hash_template_time_latency_and_outcome(cache: QueryCache) -> None:
    cache.flip("b1")
    before = time.time()
    cache.get_or_compute(ref(1), bytes, session="s1")
    cache.get_or_compute(ref(1), bytes, session="s1")
    cache.get_or_compute(ref(2, "podiums"), bytes, session="s2")
    log = cache.query_log()
    assert [(e.query_hash, e.hit, e.session) for e in log] == [
        (ref(1).query_hash, False, "s1"),
        (ref(1).query_hash, True, "s1"),
        (ref(2, "podiums").query_hash, False, "s2"),
    ]
    assert log[0].template == "driver/wins/" + log[0].template.rsplit("/", 1)[1]
    assert log[2].template.startswith("driver/podiums/")
    assert all(e.ts >= before and e.latency_ms >= 0 for e in log)
    assert [e.query_hash for e in cache.query_log(limit=1)] == [log[-1].query_hash]


def test_prefetch_stores_only_missing_answers_and_counts_their_hits(cache: QueryCache) -> None:
    cache.warm("b1", items("b1", 1))
    computed = cache.prefetch(items("pf", 3), build_id="b1")
    assert computed == 2  # query 0 was already warm
    assert cache.get_or_compute(ref(2), bytes).origin == "prefetch"
    stats = cache.stats()
    assert stats.prefetches == 2 and stats.hits_by_origin["prefetch"] == 1


def test_clear_removes_a_build_or_everything(cache: QueryCache) -> None:
    cache.warm("b1", items("b1", 3))
    cache.warm("b2", items("b2", 2), flip=False)
    assert cache.current_build() == "b1"
    assert cache.clear("b2") == 2
    assert cache.get_or_compute(ref(1), bytes).hit
    cache.save_model("predictor", "{}")
    assert cache.clear() >= 3
    assert cache.current_build() is None
    assert cache.stats().requests == 0
    assert cache.load_model("predictor") is None


def test_models_are_stored_next_to_the_cache(cache: QueryCache) -> None:
    assert cache.load_model("predictor") is None
    cache.save_model("predictor", '{"v": 1}')
    assert cache.load_model("predictor") == '{"v": 1}'


def test_another_process_sees_the_same_entries_and_statistics(cache: QueryCache) -> None:
    cache.warm("b1", items("b1", 2))
    if isinstance(cache, RedisCache):
        opener = f"RedisCache({cache.url!r}, prefix={cache.prefix!r})"
    else:
        assert isinstance(cache, EmbeddedCache)
        opener = f"EmbeddedCache({str(cache.directory)!r}, prefix={cache.prefix!r})"
    script = (
        "from p3_query.cache.embedded import EmbeddedCache\n"
        "from p3_query.cache.redis_cache import RedisCache\n"
        "from p3_query.cache import QueryRef\n"
        "from p3_query.spec import validate_spec\n"
        f"cache = {opener}\n"
        "spec = {'entity': 'driver', 'ids': [2], 'metrics': ['wins'], 'seasons': [2020, 2021]}\n"
        "r = cache.get_or_compute(QueryRef.of(validate_spec(spec)), lambda: b'no')\n"
        "race = QueryRef.of(validate_spec({'entity': 'race', 'metrics': ['races']}))\n"
        "cache.get_or_compute(race, lambda: b'new')\n"
        "cache.close()\n"
        "print(r.payload.decode(), r.hit)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["b1:1", "True"]
    race = QueryRef.of(validate_spec({"entity": "race", "metrics": ["races"]}))
    assert cache.get_or_compute(race, bytes).payload == b"new"
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (2, 1)
