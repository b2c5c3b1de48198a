"""Rate limits shared through a real Redis, and the per-process fallback when Redis is absent."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest

from p3_api.ratelimit import FALLBACK, Decision, RateLimiter

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
