"""Request limits per credential and role (per client IP when anonymous), shared by every API
process through Redis with the ``limits`` library; per-process memory when Redis is unset or down.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("p3.api")

KEY_PREFIX = "p3:ratelimit"
RETRY_REDIS_AFTER_SECONDS = 5.0  # after a failure, callers are limited in memory this long
REDIS_CONNECTIONS = 16  # per process; each is busy for one round trip per request
MAX_REMEMBERED_WINDOWS = 100_000  # window ends remembered per process (bounded against floods)

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
    """Fixed-window counters keyed by (tier, identity), kept by the ``limits`` library's asyncio
    storage: one atomic increment-with-expiry in Redis per request, awaited on the event loop.

    A fixed window lets a caller burst up to twice the limit across a boundary; that is the price
    of one Redis key per caller (a moving window keeps one list entry per request). The window's
    end is fixed when it opens, so each process asks Redis for it once per window and remembers
    it: a request costs one round trip, not the three of ``hit`` plus ``get_window_stats``.
    """

    def __init__(self, redis_url: str | None, rates: dict[str, str]) -> None:
        self._items: dict[str, RateLimitItem] = {tier: parse(rate) for tier, rate in rates.items()}
        self._memory = MemoryStorage()
        self._redis_url = redis_url
        # redis.asyncio connections belong to the event loop that opened them: one storage per loop.
        self._redis: tuple[asyncio.AbstractEventLoop, Storage] | None = None
        self._redis_down_until = 0.0
        self._window_ends: dict[str, float] = {}
        self._warned = False
        self._lock = threading.Lock()
        if not redis_url:
            self._warn("P3_REDIS_URL is unset")

    def _redis_storage(self, url: str) -> Storage:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis[0] is not loop:
            # A bounded pool that makes callers wait for a connection: under a burst, hundreds of
            # concurrent requests would otherwise each open their own connection to Redis.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=REDIS_CONNECTIONS,
                timeout=1.0,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            storage = RedisStorage(
                f"async+{url}",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                connection_pool=pool,  # type: ignore[arg-type]  # handed to redis.asyncio as is
            )
            self._redis = (loop, storage)
        return self._redis[1]

    async def hit(self, tier: str, identity: str) -> Decision:
        """Count one request of ``identity`` against ``tier``'s limit."""
        item = self._items[tier]
        if self._redis_url and time.monotonic() >= self._redis_down_until:
            try:
                storage = self._redis_storage(self._redis_url)
                return await self._decide(storage, item, tier, identity)
            except (StorageError, redis.RedisError, OSError) as exc:
                with self._lock:
                    self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
                self._warn(f"Redis is unreachable ({type(exc).__name__})")
        FALLBACK.labels("unavailable" if self._redis_url else "unconfigured").inc()
        return await self._decide(self._memory, item, tier, identity)

    async def _decide(
        self, storage: Storage, item: RateLimitItem, tier: str, identity: str
    ) -> Decision:
        key = item.key_for(tier, identity)
        count = await storage.incr(key, item.get_expiry())
        now = time.time()
        ends = self._window_ends.get(key)
        if count == 1 or ends is None or ends <= now:
            # This request opened the window, or we have not seen its end yet.
            ends = now + item.get_expiry() if count == 1 else await storage.get_expiry(key)
            if len(self._window_ends) >= MAX_REMEMBERED_WINDOWS:
                self._window_ends.clear()
            self._window_ends[key] = ends
        allowed = count <= item.amount
        if not allowed:
            REJECTED.labels(tier).inc()
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(item.amount - count, 0),
            reset_seconds=max(math.ceil(ends - now), 0),
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
