"""Pure pieces of the cache: the TTL formula, latency histograms, key schema, query templates."""

from __future__ import annotations

import pytest

from p3_query.cache import QueryRef, TtlPolicy, current_key, entry_key, template_of
from p3_query.cache.latency import bucket_of, bucket_upper_ms, summarise
from p3_query.spec import validate_spec


def test_ttl_rises_with_hits_and_cost_and_stays_within_bounds() -> None:
    policy = TtlPolicy(base_s=3600, min_s=300, max_s=7 * 86400, ref_cost_ms=10)
    assert policy.ttl_s(0, 0) == 3600
    assert policy.ttl_s(15, 0) == pytest.approx(3600 * 5)
    assert policy.ttl_s(0, 70) == pytest.approx(3600 * 4)
    assert policy.ttl_s(15, 70) == pytest.approx(3600 * 20)
    assert policy.ttl_s(10**9, 10**9) == 7 * 86400
    assert TtlPolicy(base_s=1).ttl_s(0, 0) == 300
    assert policy.ttl_s(3, 5) < policy.ttl_s(4, 5) < policy.ttl_s(4, 6)


def test_latency_percentiles_come_from_log_buckets_within_their_width() -> None:
    counts: dict[int, int] = {}
    values = [0.05] * 90 + [1.0] * 9 + [40.0]
    for v in values:
        counts[bucket_of(v)] = counts.get(bucket_of(v), 0) + 1
    summary = summarise(counts, sum(values))
    assert summary["count"] == 100
    assert 0.05 <= summary["p50_ms"] <= 0.05 * 1.12
    assert 1.0 <= summary["p95_ms"] <= 1.12
    assert 1.0 <= summary["p99_ms"] <= 1.12
    assert bucket_upper_ms(bucket_of(40.0)) >= 40.0
    assert summarise({}) == {
        "count": 0.0,
        "mean_ms": 0.0,
        "p50_ms": 0.0,
        "p95_ms": 0.0,
        "p99_ms": 0.0,
    }


def test_keys_follow_the_p3_build_hash_schema_and_reject_separators() -> None:
    assert entry_key("ab12", "ff00") == "p3:ab12:ff00"
    assert current_key() == "p3:current"
    with pytest.raises(ValueError, match="build_id"):
        entry_key("a:b", "ff00")
    with pytest.raises(ValueError, match="reserved"):
        entry_key("current", "ff00")
    with pytest.raises(ValueError, match="query_hash"):
        entry_key("b1", "x y")


def test_templates_ignore_arguments_but_not_the_shape_of_a_query() -> None:
    ferrari = QueryRef.of(validate_spec({"entity": "constructor", "ids": [6], "metrics": ["wins"]}))
    mclaren = QueryRef.of(
        validate_spec({"entity": "constructor", "ids": [1], "metrics": ["wins"], "seasons": [2020]})
    )
    podiums = QueryRef.of(
        validate_spec({"entity": "constructor", "ids": [6], "metrics": ["podiums"]})
    )
    assert ferrari.template == mclaren.template != podiums.template
    assert ferrari.query_hash != mclaren.query_hash
    assert ferrari.template.startswith("constructor/wins/")
    assert template_of("not json").startswith("query/q/")
