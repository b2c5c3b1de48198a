"""Request limits per credential and role (per client IP when anonymous), shared by every API
process through Redis with the ``limits`` library; per-process memory when Redis is unset or down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("p3.api")

KEY_PREFIX = "p3:ratelimit"
RETRY_REDIS_AFTER_SECONDS = 5.0  # after a failure, callers are limited in memory this long

REJECTED = Counter(
    "p3_api_rate_limited_total", "Requests refused with 429, by limit tier.", ["tier"]
)
FALLBACK = Counter(
    "p3_api_rate_limit_fallback_total",
    "Requests limited in process memory instead of Redis, by why (unconfigured, unavailable).",
    ["reason"],
)


@dataclass(frozen=True)
class Decision:
    """One request's verdict and what the RateLimit headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """IETF ``RateLimit-*`` fields (draft-ietf-httpapi-ratelimit-headers), plus
        ``Retry-After`` when refused."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            fields["Retry-After"] = str(max(self.reset_seconds, 1))
        return fields


class RateLimiter:
    """Fixed-window counters keyed by (tier, identity): one atomic INCR-with-expiry in Redis per
    request. A fixed window lets a caller burst up to twice the limit across a boundary; that is
    the price of one Redis key per caller (a moving window keeps one list entry per request)."""

    def __init__(self, redis_url: str | None, rates: dict[str, str]) -> None:
        self._items: dict[str, RateLimitItem] = {tier: parse(rate) for tier, rate in rates.items()}
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._redis: FixedWindowRateLimiter | None = None
        self._redis_down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()
        if redis_url:
            storage = RedisStorage(
                redis_url,
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._redis = FixedWindowRateLimiter(storage)
        else:
            self._warn("P3_REDIS_URL is unset")

    def hit(self, tier: str, identity: str) -> Decision:
        """Count one request of ``identity`` against ``tier``'s limit."""
        item = self._items[tier]
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                return self._decide(self._redis, item, tier, identity)
            except (StorageError, redis.RedisError, OSError) as exc:
                with self._lock:
                    self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
                self._warn(f"Redis is unreachable ({type(exc).__name__})")
        FALLBACK.labels("unconfigured" if self._redis is None else "unavailable").inc()
        return self._decide(self._memory, item, tier, identity)

    def _decide(
        self, limiter: FixedWindowRateLimiter, item: RateLimitItem, tier: str, identity: str
    ) -> Decision:
        allowed = limiter.hit(item, tier, identity)
        stats = limiter.get_window_stats(item, tier, identity)
        if not allowed:
            REJECTED.labels(tier).inc()
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(stats.remaining, 0),
            reset_seconds=max(math.ceil(stats.reset_time - time.time()), 0),
        )

    def _warn(self, why: str) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        logger.warning(
            "rate limits fall back to per-process memory (%s): each API process counts alone, "
            "so callers get up to the limit times the number of processes",
            why,
        )


class RateLimitHeaders:
    """Adds the ``RateLimit-*`` headers of the request's decision (left in the request state by
    the access check) to its response, whatever the route returns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get("rate_limit")
                if isinstance(decision, Decision):
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    extra = [
                        (name.lower().encode(), value.encode())
                        for name, value in decision.headers().items()
                        if name.lower().encode() not in present
                    ]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)
