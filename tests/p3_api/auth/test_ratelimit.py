"""Rate limits shared through a real Redis, and the per-process fallback when Redis is absent."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
import redis
from limits import parse

from p3_api.ratelimit import FALLBACK, Decision, RateLimiter
from tests.fixtures.servers import RedisServer

RATES = {"anonymous": "3/minute", "viewer": "5/minute"}


def _fallbacks(reason: str) -> float:
    return FALLBACK.labels(reason)._value.get()


def test_two_limiters_on_one_redis_share_the_count(redis_url: str) -> None:
    # Two limiters are what two API processes hold; the fifth hit across both is the last allowed.
    one, two = RateLimiter(redis_url, RATES), RateLimiter(redis_url, RATES)
    caller = f"key:{secrets.token_hex(8)}"

    async def six_hits() -> list[Decision]:
        return [await (one if i % 2 else two).hit("viewer", caller) for i in range(6)]

    verdicts = asyncio.run(six_hits())
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert [v.remaining for v in verdicts] == [4, 3, 2, 1, 0, 0]
    refused = verdicts[-1].headers()
    assert refused["RateLimit-Limit"] == "5" and int(refused["Retry-After"]) >= 1
    assert 0 < int(refused["RateLimit-Reset"]) <= 60
    # Another caller, and another tier, have their own counts.
    assert asyncio.run(one.hit("viewer", f"key:{secrets.token_hex(8)}")).allowed
    assert asyncio.run(one.hit("anonymous", caller)).remaining == 2


def test_redis_down_falls_back_to_memory_with_one_warning(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    before = _fallbacks("unavailable")
    limiter = RateLimiter(f"redis://127.0.0.1:{closed_port}/0", RATES)
    with caplog.at_level(logging.WARNING, logger="p3.api"):
        verdicts = [asyncio.run(limiter.hit("anonymous", "ip:10.0.0.9")) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    warnings = [r for r in caplog.records if "fall back" in r.getMessage()]
    assert len(warnings) == 1 and "Redis is unreachable" in warnings[0].getMessage()
    assert _fallbacks("unavailable") - before == 4


def test_without_redis_limits_are_per_process(caplog: pytest.LogCaptureFixture) -> None:
    before = _fallbacks("unconfigured")
    with caplog.at_level(logging.WARNING, logger="p3.api"):
        limiter = RateLimiter(None, RATES)
    assert "P3_REDIS_URL is unset" in caplog.text
    verdicts = [asyncio.run(limiter.hit("anonymous", "ip:x")) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True] * 3 + [False]
    assert _fallbacks("unconfigured") - before == 4


def _evals(server: RedisServer) -> int:
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return int(stats.get("cmdstat_eval", {}).get("calls", 0))


def test_concurrent_requests_are_counted_exactly_in_one_round_trip(own_redis: RedisServer) -> None:
    # Two processes' limiters, 40 concurrent requests of one caller against a limit of 25: every
    # request gets its own count (no two the same), exactly 25 pass, and each process asked Redis
    # once for its whole tick of requests instead of once per request.
    rates = {"viewer": "25/minute"}
    one, two = RateLimiter(own_redis.url, rates), RateLimiter(own_redis.url, rates)
    caller = f"key:{secrets.token_hex(8)}"

    async def burst() -> list[Decision]:
        return await asyncio.gather(
            *((one if i % 2 else two).hit("viewer", caller) for i in range(40))
        )

    verdicts = asyncio.run(burst())
    assert sum(v.allowed for v in verdicts) == 25
    allowed_remaining = sorted(v.remaining for v in verdicts if v.allowed)
    assert allowed_remaining == list(range(25))  # counts 1..25, each handed out once
    assert all(v.remaining == 0 and v.headers()["Retry-After"] for v in verdicts if not v.allowed)
    assert _evals(own_redis) == 2  # one per limiter (process), not 40
    # The window's expiry was set when it opened: the next minute starts a fresh count.
    ttl = redis.Redis.from_url(own_redis.url).pttl(
        f"p3:ratelimit:{parse('25/minute').key_for('viewer', caller)}"
    )
    assert 0 < ttl <= 60_000


def test_redis_dying_mid_burst_fails_over_every_waiting_request(own_redis: RedisServer) -> None:
    # Requests waiting on one batch when Redis goes away all get an answer (from memory), none hangs.
    limiter = RateLimiter(own_redis.url, {"viewer": "100/minute"})
    caller = f"key:{secrets.token_hex(8)}"
    assert asyncio.run(limiter.hit("viewer", caller)).remaining == 99  # through Redis
    own_redis.kill()

    async def burst() -> list[Decision]:
        return await asyncio.wait_for(
            asyncio.gather(*(limiter.hit("viewer", caller) for _ in range(10))), timeout=10
        )

    verdicts = asyncio.run(burst())
    assert all(v.allowed for v in verdicts)
    assert sorted(v.remaining for v in verdicts) == list(range(90, 100))  # memory's own count
