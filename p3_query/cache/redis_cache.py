"""Redis backend (``P3_REDIS_URL``): entries are hashes under ``p3:{build_id}:{query_hash}``.

Reads are one Lua call (resolve ``p3:current``, read the entry, count the hit, extend its TTL), so
the pointer and the entry always come from the same instant. The flip is another Lua call. Scripts
touch keys they compute from the prefix, which is fine on a standalone server (not on Cluster).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import CacheUnavailable, QueryCache
from .core import CacheStats, Origin, QueryEvent, QueryRef, QueryStat
from .keys import RESERVED, current_key, entry_key, flips_channel
from .latency import bucket_of

_LOOKUP = """
local build = redis.call('GET', KEYS[1])
local current = build
if not build then
    if ARGV[3] == '' then return {false, false, false} end
    build = ARGV[3]
end
local key = ARGV[1] .. ':' .. build .. ':' .. ARGV[2]
local v = redis.call('HMGET', key, 'payload', 'origin', 'cost')
if not v[1] then return {build, false, false} end
local hits = redis.call('HINCRBY', key, 'hits', 1)
if build == current then
    local cost = tonumber(v[3]) or 0
    local ttl = tonumber(ARGV[4]) * (1 + math.log(1 + hits) / math.log(2))
        * (1 + math.log(1 + cost / tonumber(ARGV[7])) / math.log(2))
    ttl = math.min(tonumber(ARGV[6]), math.max(tonumber(ARGV[5]), ttl))
    local ms = math.floor(ttl * 1000)
    if ms > redis.call('PTTL', key) then redis.call('PEXPIRE', key, ms) end
end
return {build, v[1], v[2]}
"""

_FLIP = """
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return previous
"""

_KINDS = {"hit": "hits", "miss": "misses", "degraded": "degraded"}


class RedisCache(QueryCache):
    """The production cache on a Redis server (``redis://host:port/db``)."""

    backend_name = "redis"

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float = 0.5,
        max_log_rows: int = 200_000,
        **options: object,
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.url = url
        self.max_log_rows = max_log_rows
        # Short timeouts and one retry: a dead server must cost milliseconds, not the default
        # seconds of exponential retries, before queries fall back to the snapshot.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 1),
            decode_responses=False,
        )
        self._lookup_script = self.client.register_script(_LOOKUP)
        self._flip_script = self.client.register_script(_FLIP)
        p = self.prefix
        self._k_current = current_key(p)
        self._k_first_seen = f"{p}:meta:first_seen"
        self._k_flipped = f"{p}:meta:flipped_at"
        self._k_retired = f"{p}:meta:retired_at"
        self._k_bytes = f"{p}:meta:bytes"
        self._k_counters = f"{p}:stats:counters"
        self._k_hot = f"{p}:stats:hot"
        self._k_cost = f"{p}:stats:cost"
        self._k_qhits = f"{p}:stats:qhits"
        self._k_qmisses = f"{p}:stats:qmisses"
        self._k_qcost_total = f"{p}:stats:qcost_total"
        self._k_qcost_count = f"{p}:stats:qcost_count"
        self._k_templates = f"{p}:stats:templates"
        self._k_specs = f"{p}:specs"
        self._k_log = f"{p}:log"

    def flips(self, stop: threading.Event) -> Iterator[str]:
        """Each build ``p3:current`` flips to, as announced on ``p3:flips``, until ``stop`` is set
        (a RedisError when the server goes away: the caller reconnects)."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(flips_channel(self.prefix))
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.25)
                if message is not None and message["type"] == "message":
                    yield _text(message["data"])
        finally:
            pubsub.close()

    def _k_keys(self, build_id: str) -> str:
        return f"{self.prefix}:meta:keys:{build_id}"

    def _k_latency(self, kind: str) -> str:
        return f"{self.prefix}:stats:lat:{kind}"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise CacheUnavailable(f"{self.url}: {exc}") from exc

    # ----------------------------------------------------------------- primitives
    def _lookup(
        self, query_hash: str, fallback_build: str | None
    ) -> tuple[str | None, bytes | None, Origin | None]:
        t = self.ttl
        with self._guard():
            build, payload, origin = self._lookup_script(
                keys=[self._k_current],
                args=[
                    self.prefix,
                    query_hash,
                    fallback_build or "",
                    t.base_s,
                    t.min_s,
                    t.max_s,
                    t.ref_cost_ms,
                ],
            )
        return (
            build.decode() if build else None,
            payload,
            origin.decode() if origin else None,
        )

    def _store(
        self,
        build_id: str,
        ref: QueryRef,
        payload: bytes,
        cost_ms: float,
        origin: Origin,
        ttl_s: float,
    ) -> None:
        with self._guard():
            pipe = self.client.pipeline(transaction=False)
            self._queue_entry(pipe, build_id, ref, payload, cost_ms, origin, ttl_s)
            pipe.execute()

    def _queue_entry(
        self,
        pipe: redis.client.Pipeline,
        build_id: str,
        ref: QueryRef,
        payload: bytes,
        cost_ms: float,
        origin: Origin,
        ttl_s: float,
    ) -> None:
        key = entry_key(build_id, ref.query_hash, self.prefix)
        pipe.hset(
            key,
            mapping={
                "payload": payload,
                "origin": origin,
                "cost": f"{cost_ms:.4f}",
                "hits": 0,
                "t": f"{time.time():.3f}",
            },
        )
        pipe.pexpire(key, int(ttl_s * 1000))
        members = self._k_keys(build_id)
        pipe.sadd(members, ref.query_hash)
        # The member set outlives every entry it lists; retiring the build shortens it too.
        pipe.expire(members, int(self.ttl.max_s + self.ttl.retire_grace_s))
        pipe.hincrby(self._k_bytes, build_id, len(payload))
        pipe.hsetnx(self._k_first_seen, build_id, f"{time.time():.3f}")
        pipe.hsetnx(self._k_templates, ref.query_hash, ref.template)
        if ref.spec_json:
            pipe.hsetnx(self._k_specs, ref.query_hash, ref.spec_json)

    def _commit_build(
        self,
        build_id: str,
        entries: list[tuple[QueryRef, bytes, float, float]],
        flip: bool,
    ) -> tuple[str | None, int]:
        with self._guard():
            # The new build's keys are invisible to readers until the flip, so they need no
            # transaction; only the pointer switch has to be atomic.
            for start in range(0, len(entries), 200):
                pipe = self.client.pipeline(transaction=False)
                for ref, payload, cost_ms, ttl_s in entries[start : start + 200]:
                    self._queue_entry(pipe, build_id, ref, payload, cost_ms, "warm", ttl_s)
                pipe.execute()
            if not flip:
                previous = self.client.get(self._k_current)
                return (_text(previous) if previous else None), 0
            pipe = self.client.pipeline(transaction=False)
            pipe.hsetnx(self._k_first_seen, build_id, f"{time.time():.3f}")
            pipe.execute()
            previous = self._flip_script(
                keys=[self._k_current, self._k_flipped],
                args=[build_id, f"{time.time():.3f}", flips_channel(self.prefix)],
            )
            retired = self._retire_all_but(build_id)
        return (previous.decode() if previous else None), retired

    def _retire_all_but(self, build_id: str) -> int:
        """Shorten every other build's entries to the grace TTL (never lengthen: ``LT``)."""
        grace_ms = int(self.ttl.retire_grace_s * 1000)
        total = 0
        already = {_text(b) for b in self.client.hkeys(self._k_retired)}
        for raw in self.client.hkeys(self._k_first_seen):
            other = _text(raw)
            if other == build_id or other in already:
                continue
            members = self._k_keys(other)
            hashes = [_text(h) for h in self.client.smembers(members)]
            retired = 0
            for start in range(0, len(hashes), 500):
                pipe = self.client.pipeline(transaction=False)
                for query_hash in hashes[start : start + 500]:
                    pipe.pexpire(entry_key(other, query_hash, self.prefix), grace_ms, lt=True)
                retired += sum(1 for ok in pipe.execute() if ok)
            pipe = self.client.pipeline(transaction=False)
            pipe.pexpire(members, grace_ms, lt=True)
            pipe.hset(self._k_retired, other, f"{time.time():.3f}")
            pipe.hincrby(self._k_counters, "retired", retired)
            pipe.execute()
            total += retired
        return total

    def _existing(self, build_id: str, query_hashes: list[str]) -> set[str]:
        with self._guard():
            pipe = self.client.pipeline(transaction=False)
            for query_hash in query_hashes:
                pipe.exists(entry_key(build_id, query_hash, self.prefix))
            found = pipe.execute()
        return {h for h, n in zip(query_hashes, found, strict=True) if n}

    def _ttl_remaining(self, build_id: str, query_hash: str) -> float | None:
        with self._guard():
            ms = self.client.pttl(entry_key(build_id, query_hash, self.prefix))
        return ms / 1000 if ms and ms > 0 else None

    def _current(self) -> str | None:
        with self._guard():
            value = self.client.get(self._k_current)
        return _text(value) if value else None

    def _flush(self, events: list[QueryEvent], counters: dict[str, int]) -> None:
        totals: Counter[str] = Counter(counters)
        latency: Counter[str] = Counter()
        buckets: dict[str, Counter[int]] = defaultdict(Counter)
        per_query: dict[str, list[QueryEvent]] = defaultdict(list)
        for event in events:
            kind = "hit" if event.hit else ("degraded" if event.source == "degraded" else "miss")
            totals[_KINDS[kind]] += 1
            latency[f"latency_ms_{kind}"] += event.latency_ms  # type: ignore[assignment]
            buckets[kind][bucket_of(event.latency_ms)] += 1
            if event.hit:
                totals[f"hits_{event.origin or 'read-through'}"] += 1
            per_query[event.query_hash].append(event)
        with self._guard():
            pipe = self.client.pipeline(transaction=True)  # statistics move together
            for name, value in totals.items():
                if value:
                    pipe.hincrby(self._k_counters, name, int(value))
            for name, value in latency.items():
                pipe.hincrbyfloat(self._k_counters, name, value)
            for kind, counts in buckets.items():
                for bucket, n in counts.items():
                    pipe.hincrby(self._k_latency(kind), str(bucket), n)
            for query_hash, evs in per_query.items():
                hits = sum(e.hit for e in evs)
                misses = len(evs) - hits
                costs = [e.cost_ms for e in evs if not e.hit and e.cost_ms > 0]
                pipe.zincrby(self._k_hot, len(evs), query_hash)
                if hits:
                    pipe.hincrby(self._k_qhits, query_hash, hits)
                if misses:
                    pipe.hincrby(self._k_qmisses, query_hash, misses)
                if costs:
                    pipe.hincrbyfloat(self._k_qcost_total, query_hash, sum(costs))
                    pipe.hincrby(self._k_qcost_count, query_hash, len(costs))
                    pipe.zadd(self._k_cost, {query_hash: max(costs)}, gt=True)
                pipe.hsetnx(self._k_templates, query_hash, evs[0].template)
                spec_json = next((e.spec_json for e in evs if e.spec_json), "")
                if spec_json:
                    pipe.hsetnx(self._k_specs, query_hash, spec_json)
            for event in events:
                pipe.xadd(
                    self._k_log,
                    {"e": event.to_json()},
                    maxlen=self.max_log_rows,
                    approximate=True,
                )
            pipe.execute()

    def _stats(self, top: int) -> CacheStats:
        with self._guard():
            pipe = self.client.pipeline(transaction=True)  # one consistent read
            pipe.get(self._k_current)
            pipe.hgetall(self._k_counters)
            for kind in _KINDS:
                pipe.hgetall(self._k_latency(kind))
            pipe.hgetall(self._k_first_seen)
            pipe.hgetall(self._k_flipped)
            pipe.hgetall(self._k_retired)
            pipe.hgetall(self._k_bytes)
            pipe.zrevrange(self._k_hot, 0, top - 1)
            pipe.zrevrange(self._k_cost, 0, top - 1)
            current, counters, *rest = pipe.execute()
            hists = rest[: len(_KINDS)]
            first_seen, flipped, retired_at, sizes, hot, costly = rest[len(_KINDS) :]
            builds_raw = {b.decode(): float(t) for b, t in first_seen.items()}
            pipe = self.client.pipeline(transaction=False)
            for build in builds_raw:
                pipe.scard(self._k_keys(build))
            cards = pipe.execute()
            hottest = self._query_stats([h.decode() for h in hot])
            costliest = self._query_stats([h.decode() for h in costly])
            info_memory = self.client.info("memory")
            info_stats = self.client.info("stats")
        counts = {k.decode(): float(v) for k, v in counters.items()}
        current_build = current.decode() if current else None

        def when(table: dict[bytes, bytes], build: str) -> float | None:
            value = table.get(build.encode())
            return float(value) if value else None

        builds = {
            build: {
                "entries": int(card),
                "bytes": int(sizes.get(build.encode(), 0)) if card else 0,
                "flipped_at": when(flipped, build),
                "retired_at": when(retired_at, build),
            }
            for build, card in zip(builds_raw, cards, strict=True)
        }
        return CacheStats.from_counters(
            self.backend_name,
            current_build,
            counts,
            {
                kind: {int(b): int(n) for b, n in hist.items()}
                for kind, hist in zip(_KINDS, hists, strict=True)
            },
            builds,
            hottest=hottest,
            most_expensive=costliest,
            # Redis evicts and expires by itself; these are the server's totals.
            evictions=int(info_stats.get("evicted_keys", 0)),
            expired=int(info_stats.get("expired_keys", 0)),
            notes={
                "url": _redacted(self.url),
                "server_used_memory": int(info_memory.get("used_memory", 0)),
                "server_maxmemory_policy": str(info_memory.get("maxmemory_policy", "")),
                "evictions_and_expired_are": "server-wide counters (INFO stats)",
            },
        )

    def _query_stats(self, hashes: list[str]) -> list[QueryStat]:
        if not hashes:
            return []
        pipe = self.client.pipeline(transaction=False)
        for table in (
            self._k_templates,
            self._k_qhits,
            self._k_qmisses,
            self._k_qcost_total,
            self._k_qcost_count,
        ):
            pipe.hmget(table, hashes)
        templates, hits, misses, totals, counts = pipe.execute()
        stats = []
        for i, query_hash in enumerate(hashes):
            n = int(counts[i] or 0)
            stats.append(
                QueryStat(
                    query_hash=query_hash,
                    template=(templates[i] or b"").decode(),
                    requests=int(hits[i] or 0) + int(misses[i] or 0),
                    hits=int(hits[i] or 0),
                    misses=int(misses[i] or 0),
                    mean_cost_ms=round(float(totals[i] or 0) / n, 3) if n else 0.0,
                    max_cost_ms=round(float(self.client.zscore(self._k_cost, query_hash) or 0), 3),
                )
            )
        return stats

    def _query_log(self, since: float | None, limit: int | None) -> list[QueryEvent]:
        low = f"{int((since or 0) * 1000)}-0"
        with self._guard():
            if limit is None:
                rows = self.client.xrange(self._k_log, min=low) or []
            else:
                rows = list(
                    reversed(self.client.xrevrange(self._k_log, min=low, count=limit) or [])
                )
        return [QueryEvent.from_json(fields[b"e"]) for _, fields in rows if fields]

    def _spec_jsons(self, query_hashes: list[str]) -> dict[str, str]:
        with self._guard():
            values = self.client.hmget(self._k_specs, query_hashes)
        return {h: _text(v) for h, v in zip(query_hashes, values, strict=True) if v}

    def _set_document(self, name: str, document: str) -> None:
        with self._guard():
            self.client.set(f"{self.prefix}:doc:{name}", document.encode())

    def _get_document(self, name: str) -> str | None:
        with self._guard():
            value = self.client.get(f"{self.prefix}:doc:{name}")
        return _text(value) if value else None

    def _clear(self, build_id: str | None) -> int:
        with self._guard():
            if build_id is not None:
                members = self._k_keys(build_id)
                keys = [
                    entry_key(build_id, _text(h), self.prefix)
                    for h in self.client.smembers(members)
                ]
                deleted = self.client.unlink(*keys) if keys else 0
                self.client.unlink(members)
                self.client.hdel(self._k_bytes, build_id)
                return int(deleted)
            deleted = 0
            batch: list[bytes] = []
            for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += self._unlink_counting_entries(batch)
                    batch = []
            if batch:
                deleted += self._unlink_counting_entries(batch)
            return deleted

    def _unlink_counting_entries(self, keys: list[bytes]) -> int:
        self.client.unlink(*keys)
        # Entry keys have exactly three segments; bookkeeping keys have other shapes or names.
        return sum(
            1 for k in keys if k.count(b":") == 2 and k.split(b":")[1].decode() not in RESERVED
        )

    def _close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.close()


def _redacted(url: str) -> str:
    """The URL without a password."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the client is bytes-in, bytes-out: no ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else value
