"""Request limits per credential and role (per client IP when anonymous), shared by every API
process through Redis; per-process memory (the ``limits`` library's storage) when Redis is unset
or down.
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
from limits.aio.storage import MemoryStorage
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("p3.api")

KEY_PREFIX = "p3:ratelimit"
RETRY_REDIS_AFTER_SECONDS = 5.0  # after a failure, callers are limited in memory this long
REDIS_CONNECTIONS = 16  # per process; each is busy for one pipeline at a time

# The fixed-window counter: the window opens (its expiry is set) with its first request.
INCR_EXPIRE = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""

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


class RedisCounters:
    """Fixed-window counters in Redis, counted for a whole event-loop tick at once.

    Each request awaits its count; the requests that arrive in the same tick are counted in one
    pipelined round trip, one atomic increment-with-expiry per key (by the number of its
    requests, each then getting its own count in arrival order). Under load a cached answer cost
    more in Redis system calls than in serving it, one round trip per request; batched, the
    counts are as exact and the round trips a fraction. (The ``limits`` library counts one hit
    per call, with no batch.) Belongs to the event loop it was created on.
    """

    def __init__(self, url: str) -> None:
        # A bounded pool: under a burst, concurrent flushes wait for a connection rather than
        # each opening its own.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=1.0,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        self._client = redis.asyncio.Redis(connection_pool=pool)
        self._waiting: dict[str, tuple[int, list[asyncio.Future[tuple[int, float]]]]] = {}

    async def incr(self, key: str, expiry: int) -> tuple[int, float]:
        """The count of this request in ``key``'s window, and when the window ends (Unix time)."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush_soon)  # after every request of this tick has asked
        answer: asyncio.Future[tuple[int, float]] = loop.create_future()
        self._waiting.setdefault(key, (expiry, []))[1].append(answer)
        return await answer

    def _flush_soon(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._flush(batch))
        task.add_done_callback(_TASKS.discard)
        _TASKS.add(task)

    async def _flush(
        self, batch: dict[str, tuple[int, list[asyncio.Future[tuple[int, float]]]]]
    ) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, (expiry, answers) in batch.items():
                # EVAL, not EVALSHA: a pipeline of registered scripts first asks Redis whether
                # they exist, a second round trip; Redis caches the compiled script either way.
                pipe.eval(INCR_EXPIRE, 1, key, expiry, len(answers))
            replies = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 (every waiting request gets the failure)
            for _, answers in batch.values():
                for answer in answers:
                    if not answer.done():
                        answer.set_exception(exc)
            return
        now = time.time()
        for (_, answers), (total, ttl_ms) in zip(batch.values(), replies, strict=True):
            first = int(total) - len(answers) + 1
            ends = now + max(int(ttl_ms), 0) / 1000
            for offset, answer in enumerate(answers):
                if not answer.done():  # the request may have been cancelled meanwhile
                    answer.set_result((first + offset, ends))


_TASKS: set[asyncio.Task[None]] = set()  # flushes in flight (the loop keeps weak references)


class RateLimiter:
    """Fixed-window counters keyed by (tier, identity): in Redis (``RedisCounters``) when
    configured and reachable, else in this process's memory.

    A fixed window lets a caller burst up to twice the limit across a boundary; that is the price
    of one Redis key per caller (a moving window keeps one list entry per request).
    """

    def __init__(self, redis_url: str | None, rates: dict[str, str]) -> None:
        self._items: dict[str, RateLimitItem] = {tier: parse(rate) for tier, rate in rates.items()}
        self._memory = MemoryStorage()
        self._redis_url = redis_url
        # redis.asyncio connections belong to the event loop that opened them: one per loop.
        self._redis: tuple[asyncio.AbstractEventLoop, RedisCounters] | None = None
        self._redis_down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()
        if not redis_url:
            self._warn("P3_REDIS_URL is unset")

    def _counters(self, url: str) -> RedisCounters:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis[0] is not loop:
            self._redis = (loop, RedisCounters(url))
        return self._redis[1]

    async def hit(self, tier: str, identity: str) -> Decision:
        """Count one request of ``identity`` against ``tier``'s limit."""
        item = self._items[tier]
        if self._redis_url and time.monotonic() >= self._redis_down_until:
            try:
                key = f"{KEY_PREFIX}:{item.key_for(tier, identity)}"
                count, ends = await self._counters(self._redis_url).incr(key, item.get_expiry())
                return self._decision(item, tier, count, ends)
            except (redis.RedisError, OSError) as exc:
                with self._lock:
                    self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
                self._warn(f"Redis is unreachable ({type(exc).__name__})")
        FALLBACK.labels("unavailable" if self._redis_url else "unconfigured").inc()
        key = item.key_for(tier, identity)
        count = await self._memory.incr(key, item.get_expiry())
        return self._decision(item, tier, count, await self._memory.get_expiry(key))

    @staticmethod
    def _decision(item: RateLimitItem, tier: str, count: int, ends: float) -> Decision:
        allowed = count <= item.amount
        if not allowed:
            REJECTED.labels(tier).inc()
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(item.amount - count, 0),
            reset_seconds=max(math.ceil(ends - time.time()), 0),
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
