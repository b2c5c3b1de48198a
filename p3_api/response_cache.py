"""The API's response cache, two tiers.

L1: ready-to-send bodies in this process, bounded by bytes (LRU), keyed by the normalised request
and tagged with the build they were read from. L2: the query cache shared by every process
(Redis, else the embedded store: the ``p3:{build_id}:{query_hash}`` entries that warming fills),
which ``/v1/query`` reads through ``CachedEngine``.

Keeping L1 in sync across processes: with Redis, each process subscribes to the flips of
``p3:current`` (pub/sub, announced by the flip itself) and drops the old build's entries as the
message arrives. Every process also checks, twice a second, the published snapshot's build id,
the query cache's current build and the ML outputs' build, and drops entries of any other build:
that bounds staleness without Redis, and while a subscription reconnects after Redis restarts.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from .metrics import CACHE

logger = logging.getLogger("p3.api.cache")

WATCH_INTERVAL_S = 0.5


ARRIVAL = "p3.arrival"  # scope key: the request's arrival key (``fast_path``), stored under too


@dataclass(frozen=True)
class Entry:
    """One cached response body and the build it was read from; ``respond`` adds the request
    key, route template and Cache-Control that answer it again before routing (``fast_path``)."""

    build_id: str
    body: bytes
    media_type: str
    key: str = ""
    route: str = ""
    cache_control: str = "no-cache"


class ResponseL1:
    """Bodies keyed by request, least recently used evicted first, at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        CACHE.labels("l1", "hit" if entry else "miss").inc()
        return entry

    def get_arrival(self, key: str) -> Entry | None:
        """The entry stored under a request's arrival key; only hits are counted (a miss goes
        on to ``get`` under the normalised key, which counts it)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            CACHE.labels("l1", "hit").inc()
        return entry

    def put(self, key: str, entry: Entry) -> None:
        size = len(entry.body)
        if size > self.max_bytes // 4:
            return  # one answer may not push out most of the cache
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)

    def keep_builds(self, builds: set[str]) -> int:
        """Drop every entry of a build not in ``builds``; returns how many were dropped."""
        with self._lock:
            stale = [k for k, e in self._entries.items() if e.build_id not in builds]
            for key in stale:
                self._bytes -= len(self._entries.pop(key).body)
        return len(stale)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


def request_key(*parts: str | bytes) -> str:
    """A stable key for a normalised request (method, path, sorted query, body, format)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def get_key(request: Request) -> str:
    """The key of a GET answer that depends only on its path and query parameters."""
    return request_key("GET", request.url.path, str(sorted(request.query_params.multi_items())))


def etag(build_id: str, key: str) -> str:
    """The entity tag of a response: the build it was read from and the request it answers."""
    return f'"{build_id}.{key[:20]}"'


class BuildWatcher:
    """Keeps ``l1`` to the builds being served: the snapshot's, the query cache's current one and
    the ML outputs' (each read by one of ``readers``), checked every ``interval`` seconds and at
    once when ``announcements`` (Redis pub/sub of ``p3:current`` flips) names a new build."""

    def __init__(
        self,
        l1: ResponseL1,
        readers: Sequence[Callable[[], str | None]],
        *,
        announcements: Callable[[threading.Event], Iterator[str]] | None = None,
        interval: float = WATCH_INTERVAL_S,
    ) -> None:
        self.l1 = l1
        self.readers = tuple(readers)
        self.announcements = announcements
        self.interval = interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def check(self) -> set[str]:
        """Drop L1 entries of builds no longer served; returns the builds served now."""
        builds = {b for b in (_quietly(read) for read in self.readers) if b}
        if builds:
            dropped = self.l1.keep_builds(builds)
            if dropped:
                logger.info("dropped %d cached responses of older builds", dropped)
        return builds

    def start(self) -> None:
        targets = [("p3-l1-watch", self._poll)]
        if self.announcements is not None:
            targets.append(("p3-l1-flips", self._listen))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def _listen(self) -> None:
        assert self.announcements is not None
        while not self._stop.is_set():
            try:
                for _build in self.announcements(self._stop):
                    self.check()
            except Exception as exc:  # noqa: BLE001 (Redis down: polling still bounds staleness)
                logger.debug("flip announcements interrupted: %s", exc)
            self._stop.wait(1.0)  # resubscribe after a second


def _quietly(read: Callable[[], str | None]) -> str | None:
    # No snapshot yet, or Redis down: nothing to compare with this time.
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 (a watcher must outlive any backend's failure)
        logger.debug("build check failed: %s", exc)
        return None


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (or ``*``)."""
    if not if_none_match:
        return False
    candidates = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in candidates or tag in candidates


async def respond(
    request: Request,
    key: str,
    produce: Callable[[], Entry],
    *,
    cache_control: str = "no-cache",
) -> Response:
    """The response for ``key``: from L1, or ``produce()`` (run in a worker thread) stored in L1;
    ``304`` when the request's ``If-None-Match`` names its ETag."""
    service = request.app.state.snapshot
    entry = service.responses.get(key)
    if entry is None:
        produced = await run_in_threadpool(produce)
        route = getattr(request.scope.get("route"), "path", "")
        entry = replace(produced, key=key, route=route, cache_control=cache_control)
        service.responses.put(key, entry)
    arrival = request.scope.get(ARRIVAL)
    if arrival is not None:
        service.responses.put(arrival, entry)  # the same request again is answered before routing
    tag = etag(entry.build_id, key)
    headers = {"ETag": tag, "X-P3-Build": entry.build_id, "Cache-Control": cache_control}
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type=entry.media_type, headers=headers)


def cache_control(request: Request) -> str:
    """``Cache-Control`` of a GET answer: shared caches may keep it ``P3_API_CACHE_MAX_AGE_SECONDS``,
    then revalidate with its ETag (a publish may change it any time)."""
    return public_for(request.app.state.api.cache_max_age_seconds)


def public_for(max_age: int) -> str:
    """``Cache-Control`` of an answer any cache may keep ``max_age`` seconds."""
    return f"public, max-age={max_age}"
