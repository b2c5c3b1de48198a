"""The ``QueryCache`` interface: read-through, warming and build flips over two storage backends.

Backends implement a handful of storage primitives (``_lookup``, ``_store``, ``_commit_build``, ...);
everything a caller relies on (read-through, adaptive TTLs, the query log, statistics, and answering
from the compute path when the backend is down) lives here once, so both backends behave alike.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .core import (
    CacheResult,
    CacheStats,
    Computed,
    Origin,
    QueryEvent,
    QueryRef,
    WarmItem,
    WarmReport,
)
from .keys import DEFAULT_PREFIX, check_build, check_part
from .ttl import TtlPolicy

log = logging.getLogger("p3_query.cache")


class CacheUnavailable(RuntimeError):
    """The cache backend cannot be reached (server down, timeout, locked or unreadable file)."""


class CacheDegradedWarning(RuntimeWarning):
    """Queries are being answered from the snapshot because the cache backend is unavailable."""


class QueryCache(ABC):
    """A build-versioned cache of query answers (payload bytes) keyed ``p3:{build_id}:{query_hash}``.

    Readers are served from the build ``p3:current`` names; ``warm`` fills a new build's namespace
    and then switches ``p3:current`` to it in one atomic step. Statistics and the query log are
    buffered in-process and flushed to the backend every ``flush_interval_s`` seconds (sooner
    if ``flush_every`` events pile up) by a background thread (and on ``stats``/``close``/exit), which
    keeps the hit path to one backend round trip; ``background_flush=False`` flushes inline.
    """

    backend_name = "abstract"

    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: TtlPolicy | None = None,
        flush_every: int = 4096,
        flush_interval_s: float = 1.0,
        retry_after_s: float = 5.0,
        max_buffered_events: int = 100_000,
        clock: Callable[[], float] = time.time,
        background_flush: bool = True,
    ) -> None:
        self.prefix = check_part(prefix, "prefix")
        self.ttl = ttl or TtlPolicy()
        self.flush_every = flush_every
        self.flush_interval_s = flush_interval_s
        self.retry_after_s = retry_after_s
        self.max_buffered_events = max_buffered_events
        # Stamps query-log events; a replayed workload passes its simulated time (bench/query.py).
        self.clock = clock
        # Process-local health metrics: they must work precisely when the backend does not.
        self.metrics: dict[str, int] = {"degraded_answers": 0, "backend_errors": 0, "outages": 0}
        self._events: list[QueryEvent] = []
        self._counters: dict[str, int] = {}
        self._buffer_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: readers of stats see them all
        self._last_flush = time.monotonic()
        self._down_until = 0.0
        self._closed = False
        self.background_flush = background_flush
        self._wakeup = threading.Event()
        self._flusher: threading.Thread | None = None
        _OPEN_CACHES.add(self)

    # ----------------------------------------------------------------- reading
    def get_or_compute(
        self,
        ref: QueryRef,
        compute: Callable[[], bytes | Computed],
        *,
        build_id: str | None = None,
        session: str | None = None,
    ) -> CacheResult:
        """The cached answer to ``ref`` from the current build, or ``compute()`` stored for next time.

        ``build_id`` is the build ``compute`` answers from: the caller reads it on the same engine
        lease that ``compute`` runs on (``CachedEngine``), so a miss is stored under the build it
        was computed on, and an answer computed from a new snapshot never lands in the old build's
        namespace. It is also the build read from when no build is current yet. If the backend is
        unavailable the answer still comes from ``compute`` (source ``"degraded"``), with a warning
        and a metric. Errors raised by ``compute`` itself propagate: they are query errors, not cache errors.
        """
        check_part(ref.query_hash, "query_hash")
        if build_id is not None:
            check_build(build_id)
        started = time.perf_counter()
        if self._is_down():
            return self._answer_degraded(ref, compute, started, build_id, session)
        try:
            current, payload, origin = self._lookup(ref.query_hash, build_id)
        except CacheUnavailable as exc:
            self._trip(exc)
            return self._answer_degraded(ref, compute, started, build_id, session)
        if payload is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self._record(ref, elapsed, True, current, "cache", origin, 0.0, session)
            return CacheResult(payload, True, current, elapsed, "cache", origin)
        computed_at = time.perf_counter()
        payload, value = _unpack(compute())
        cost_ms = (time.perf_counter() - computed_at) * 1000
        target = build_id or current
        if target is not None:
            try:
                self._store(
                    target, ref, payload, cost_ms, "read-through", self.ttl.ttl_s(0, cost_ms)
                )
            except CacheUnavailable as exc:
                self._trip(exc)
        elapsed = (time.perf_counter() - started) * 1000
        self._record(ref, elapsed, False, target, "compute", None, cost_ms, session)
        return CacheResult(payload, False, target, elapsed, "compute", value=value)

    def flips(self, stop: threading.Event) -> Iterator[str]:
        """Builds as ``p3:current`` flips to them, announced by the backend, until ``stop`` is set.
        The embedded backend announces nothing (returns at once): its readers poll."""
        return iter(())

    def current_build(self) -> str | None:
        """The build readers are served from (``p3:current``), or None if none was flipped yet."""
        return self._current()

    def cached_hashes(self, build_id: str, query_hashes: Iterable[str]) -> set[str]:
        """Which of ``query_hashes`` have a live entry under ``build_id``."""
        hashes = list(query_hashes)
        return self._existing(check_build(build_id), hashes) if hashes else set()

    def entry_ttl_s(self, build_id: str, ref: QueryRef) -> float | None:
        """Seconds left before ``ref``'s entry under ``build_id`` expires (None if absent)."""
        self.flush()  # the embedded backend extends TTLs when it folds buffered hits in
        return self._ttl_remaining(check_build(build_id), check_part(ref.query_hash, "query_hash"))

    # ----------------------------------------------------------------- writing
    def put(
        self,
        ref: QueryRef,
        payload: bytes,
        *,
        build_id: str,
        cost_ms: float = 0.0,
        origin: Origin = "read-through",
        popularity: int = 0,
    ) -> None:
        """Store one answer under ``build_id`` with an adaptive TTL."""
        ttl_s = self.ttl.ttl_s(popularity, cost_ms)
        self._store(check_build(build_id), ref, payload, cost_ms, origin, ttl_s)
        if origin == "prefetch":
            self._count("prefetches")

    def prefetch(self, items: Iterable[WarmItem], *, build_id: str) -> int:
        """Compute and store predicted next queries that ``build_id`` does not hold yet.

        Returns how many were computed. Never raises for an unavailable backend (nothing to do then).
        """
        if self._is_down():
            return 0
        items = list(items)
        try:
            have = self.cached_hashes(build_id, [i.ref.query_hash for i in items])
            done = 0
            for item in items:
                if item.ref.query_hash in have:
                    continue
                started = time.perf_counter()
                payload = item.compute()
                cost_ms = (time.perf_counter() - started) * 1000
                self.put(
                    item.ref,
                    payload,
                    build_id=build_id,
                    cost_ms=cost_ms,
                    origin="prefetch",
                    popularity=item.popularity,
                )
                done += 1
            return done
        except CacheUnavailable as exc:
            self._trip(exc)
            return 0

    def warm(self, build_id: str, items: Iterable[WarmItem], *, flip: bool = True) -> WarmReport:
        """Pre-compute ``items`` under ``build_id``, then (if ``flip``) make it the current build.

        Entries are written into the new build's own namespace, which no reader looks at until the
        flip, and the flip is one atomic step, so a reader sees either the old build or the complete
        new one. Queries already cached for the build (read-through misses against the new snapshot)
        are not recomputed. A query whose computation fails is skipped and counted; it is answered by
        read-through later.
        """
        check_build(build_id)
        items = list({i.ref.query_hash: i for i in items}.values())
        have = self.cached_hashes(build_id, [i.ref.query_hash for i in items])
        entries: list[tuple[QueryRef, bytes, float, float]] = []
        failed = 0
        compute_ms = 0.0
        for item in items:
            if item.ref.query_hash in have:
                continue
            started = time.perf_counter()
            try:
                payload = item.compute()
            except Exception as exc:  # one bad query must not block the whole build
                log.warning("warming %s failed: %s", item.ref.query_hash, exc)
                failed += 1
                continue
            cost_ms = (time.perf_counter() - started) * 1000
            compute_ms += cost_ms
            entries.append((item.ref, payload, cost_ms, self.ttl.ttl_s(item.popularity, cost_ms)))
        previous, retired = self._commit_build(build_id, entries, flip)
        return WarmReport(
            build_id=build_id,
            previous_build=previous,
            requested=len(items),
            computed=len(entries),
            already_cached=len(have),
            failed=failed,
            compute_ms=round(compute_ms, 3),
            flipped=flip,
            retired_entries=retired,
        )

    def flip(self, build_id: str) -> str | None:
        """Atomically make ``build_id`` current, retire the previous build; return the previous one."""
        previous, _ = self._commit_build(check_build(build_id), [], True)
        return previous

    def clear(self, build_id: str | None = None) -> int:
        """Delete one build's entries, or (None) every entry, statistic, log line and stored model.

        Returns how many entries were deleted.
        """
        self.flush()
        with self._buffer_lock:
            if build_id is None:
                self._events.clear()
                self._counters.clear()
        return self._clear(check_build(build_id) if build_id else None)

    # ----------------------------------------------------------------- analytics
    def stats(self, top: int = 10) -> CacheStats:
        """Hits, misses, ratio, evictions, memory, latency by hit/miss, hottest and costliest queries."""
        self.flush()
        stats = self._stats(top)
        stats.notes["process_metrics"] = dict(self.metrics)
        return stats

    def query_log(
        self, *, since: float | None = None, limit: int | None = None
    ) -> list[QueryEvent]:
        """The stored query log, oldest first (optionally from ``since`` and at most ``limit``)."""
        self.flush()
        return self._query_log(since, limit)

    def spec_jsons(self, query_hashes: Sequence[str]) -> dict[str, str]:
        """The normalised spec JSON of each known query hash (what warming needs to recompute it)."""
        return self._spec_jsons(list(query_hashes)) if query_hashes else {}

    def save_model(self, name: str, document: str) -> None:
        """Store a model document (e.g. the query-sequence predictor) next to the cache."""
        self._set_document(name, document)

    def load_model(self, name: str) -> str | None:
        """A stored model document, or None."""
        return self._get_document(name)

    def report_unavailable(self, exc: BaseException) -> None:
        """The backend failed outside a query (e.g. loading the sequence model): open the same
        circuit as a failed lookup, so the next queries answer from the snapshot at once, with
        one warning and the outage metric."""
        self._trip(exc)

    # ----------------------------------------------------------------- lifecycle
    def flush(self) -> None:
        """Write buffered log events and counters to the backend (kept buffered if it is down)."""
        with self._flush_lock:
            with self._buffer_lock:
                events, counters = self._events, self._counters
                self._events, self._counters = [], {}
                self._last_flush = time.monotonic()
            if not events and not counters:
                return
            try:
                self._flush(events, counters)
            except CacheUnavailable as exc:
                self._trip(exc)
                with self._buffer_lock:
                    # Keep them for the next attempt, bounded: the newest matter most.
                    self._events = (events + self._events)[-self.max_buffered_events :]
                    for name, value in counters.items():
                        self._counters[name] = self._counters.get(name, 0) + value

    def close(self) -> None:
        """Stop the flusher, flush and release connections."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=10)
        self.flush()
        _OPEN_CACHES.discard(self)
        self._close()

    def __enter__(self) -> QueryCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _record(
        self,
        ref: QueryRef,
        latency_ms: float,
        hit: bool,
        build_id: str | None,
        source: Any,
        origin: Origin | None,
        cost_ms: float,
        session: str | None,
    ) -> None:
        event = QueryEvent(
            ts=self.clock(),
            query_hash=ref.query_hash,
            template=ref.template,
            latency_ms=round(latency_ms, 4),
            hit=hit,
            build_id=build_id,
            source=source,
            origin=origin,
            cost_ms=round(cost_ms, 4),
            session=session,
            spec_json="" if hit else ref.spec_json,
        )
        with self._buffer_lock:
            self._events.append(event)
            due = (
                len(self._events) >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_interval_s
            )
        if self.background_flush and not self._closed:
            if self._flusher is None:
                self._start_flusher()
            if due:
                self._wakeup.set()
        elif due and not self._is_down():
            self.flush()

    def _start_flusher(self) -> None:
        # The thread holds only a weak reference, so an abandoned cache can still be collected.
        this = weakref.ref(self)
        wakeup, interval = self._wakeup, self.flush_interval_s

        def loop() -> None:
            while True:
                wakeup.wait(interval)
                wakeup.clear()
                cache = this()
                if cache is None or cache._closed:
                    return
                if not cache._is_down():
                    try:
                        cache.flush()
                    except Exception as exc:  # never kill the flusher; the next round retries
                        log.warning("flushing cache statistics failed: %s", exc)
                del cache
                # At most a few flushes a second, whatever the query rate: between them the write
                # lock is free for warming and flips (SQLite's busy wait is not fair to them).
                time.sleep(_MIN_FLUSH_GAP_S)

        with self._buffer_lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=loop, name="p3-cache-flush", daemon=True)
                self._flusher.start()

    def _count(self, name: str, delta: int = 1) -> None:
        with self._buffer_lock:
            self._counters[name] = self._counters.get(name, 0) + delta

    def _answer_degraded(
        self,
        ref: QueryRef,
        compute: Callable[[], bytes | Computed],
        started: float,
        build_id: str | None,
        session: str | None,
    ) -> CacheResult:
        self.metrics["degraded_answers"] += 1
        computed_at = time.perf_counter()
        payload, value = _unpack(compute())
        now = time.perf_counter()
        cost_ms = (now - computed_at) * 1000
        elapsed = (now - started) * 1000
        self._record(ref, elapsed, False, build_id, "degraded", None, cost_ms, session)
        return CacheResult(payload, False, build_id, elapsed, "degraded", value=value)

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _trip(self, exc: BaseException) -> None:
        # Stop asking the backend for retry_after_s: a dead server would otherwise cost a connect
        # timeout on every query. One warning per outage, not per query.
        self.metrics["backend_errors"] += 1
        if not self._is_down():
            self.metrics["outages"] += 1
            message = (
                f"{self.backend_name} cache unavailable ({exc}); answering from the snapshot "
                f"without the cache for the next {self.retry_after_s:g}s"
            )
            log.warning(message)
            warnings.warn(message, CacheDegradedWarning, stacklevel=3)
        self._down_until = time.monotonic() + self.retry_after_s

    # ----------------------------------------------------------------- backend primitives
    @abstractmethod
    def _lookup(
        self, query_hash: str, fallback_build: str | None
    ) -> tuple[str | None, bytes | None, Origin | None]:
        """Atomically resolve the current build (or ``fallback_build`` if none) and read the entry.

        Returns ``(build, payload or None, origin of the entry)``. Backends that can do it in the
        same round trip also count the hit and extend the entry's TTL here.
        """

    @abstractmethod
    def _store(
        self,
        build_id: str,
        ref: QueryRef,
        payload: bytes,
        cost_ms: float,
        origin: Origin,
        ttl_s: float,
    ) -> None:
        """Write one entry under ``build_id``."""

    @abstractmethod
    def _commit_build(
        self,
        build_id: str,
        entries: list[tuple[QueryRef, bytes, float, float]],
        flip: bool,
    ) -> tuple[str | None, int]:
        """Write ``(ref, payload, cost_ms, ttl_s)`` entries under ``build_id`` and, if ``flip``,
        atomically switch ``p3:current`` to it and retire older builds to the grace TTL.

        Returns ``(previous current build, entries retired)``.
        """

    @abstractmethod
    def _existing(self, build_id: str, query_hashes: list[str]) -> set[str]:
        """The subset of ``query_hashes`` with a live entry under ``build_id``."""

    @abstractmethod
    def _ttl_remaining(self, build_id: str, query_hash: str) -> float | None:
        """Seconds left on an entry, or None."""

    @abstractmethod
    def _current(self) -> str | None:
        """The value of ``p3:current``."""

    @abstractmethod
    def _flush(self, events: list[QueryEvent], counters: dict[str, int]) -> None:
        """Append events to the query log and fold them (and counters) into the statistics."""

    @abstractmethod
    def _stats(self, top: int) -> CacheStats:
        """Read the statistics back."""

    @abstractmethod
    def _query_log(self, since: float | None, limit: int | None) -> list[QueryEvent]:
        """Read the query log."""

    @abstractmethod
    def _spec_jsons(self, query_hashes: list[str]) -> dict[str, str]:
        """Read stored spec JSON by query hash."""

    @abstractmethod
    def _set_document(self, name: str, document: str) -> None:
        """Store a named text document."""

    @abstractmethod
    def _get_document(self, name: str) -> str | None:
        """Read a named text document."""

    @abstractmethod
    def _clear(self, build_id: str | None) -> int:
        """Delete a build's entries, or everything under the prefix."""

    @abstractmethod
    def _close(self) -> None:
        """Release connections."""


def _unpack(out: bytes | Computed) -> tuple[bytes, Any]:
    if isinstance(out, Computed):
        return out.payload, out.value
    return out, None


_MIN_FLUSH_GAP_S = 0.2
_OPEN_CACHES: weakref.WeakSet[QueryCache] = weakref.WeakSet()


@atexit.register
def _flush_open_caches() -> None:
    # Buffered statistics of a short-lived process (a CLI call) must not be lost on exit.
    for cache in list(_OPEN_CACHES):
        try:
            cache.flush()
        except Exception:  # exiting anyway; nothing useful to do with the error
            pass
