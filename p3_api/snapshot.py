"""What the API serves from, per process: the query engine over the published snapshot, the
shared query cache (L2) in front of it, and the in-process response cache (L1).

``p3_query``'s engine checks the snapshot file's identity on every lease, so a newly published
snapshot is picked up by the next request while requests in flight finish on the build they
started on; nothing here restarts or waits. Everything opens lazily, so the API starts (and
``/readyz`` says why it is not ready) without a snapshot or a reachable Redis.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from p3_common.settings import Settings
from p3_common.snapshot import read_snapshot
from p3_query.cache import QueryCache, open_cache
from p3_query.cache.engine_adapter import CachedEngine
from p3_query.engine import Engine

from .ergast.index import ErgastIndex
from .response_cache import BuildWatcher, ResponseL1

ERGAST_BUILDS_KEPT = 2  # the build being served and the one requests in flight may still read


class PublishedFile:
    """The build id of a published file, re-read only when the file is replaced (a stat a call)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[tuple[int, int, int], str] | None = None

    def build_id(self) -> str | None:
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        identity = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
        if self._seen is None or self._seen[0] != identity:
            self._seen = (identity, read_snapshot(self.path).build_id)
        return self._seen[1]


class SnapshotService:
    """The engine, the query cache and the response cache of one API process."""

    def __init__(self, settings: Settings, *, pool_size: int, l1_bytes: int) -> None:
        assert settings.serving_duckdb_path is not None  # settings fill it in
        self.settings = settings
        self.path = settings.serving_duckdb_path
        self.pool_size = pool_size
        self.responses = ResponseL1(l1_bytes)
        self._engine: Engine | None = None
        self._cache: QueryCache | None = None
        self._cached: CachedEngine | None = None
        self._ergast: dict[str, ErgastIndex] = {}
        self._lock = threading.Lock()
        self.ml_outputs = PublishedFile(settings.ml_snapshot_path)
        self.watcher = BuildWatcher(
            self.responses,
            [
                lambda: self.engine.build_id,
                lambda: self.query_cache.current_build(),
                self.ml_outputs.build_id,
            ],
            announcements=(lambda stop: self.query_cache.flips(stop))
            if settings.redis_url
            else None,
        )

    @property
    def engine(self) -> Engine:
        """The engine over the published snapshot (SnapshotMissing / NotASnapshot on first use)."""
        if self._engine is not None:
            return self._engine  # without the lock: the event loop asks on every Ergast miss
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.path, pool_size=self.pool_size)
            return self._engine

    @property
    def query_cache(self) -> QueryCache:
        """The query cache shared by every process (Redis when configured, else embedded)."""
        with self._lock:
            if self._cache is None:
                self._cache = open_cache(self.settings)
            return self._cache

    @property
    def cached_engine(self) -> CachedEngine:
        """The engine behind the query cache (no background pre-fetching in API processes)."""
        engine, cache = self.engine, self.query_cache
        with self._lock:
            if self._cached is None:
                self._cached = CachedEngine(engine, cache, prefetch=False)
            return self._cached

    def ergast(self, build_id: str) -> ErgastIndex:
        """The Ergast rows of ``build_id`` in memory (read on first use; the oldest build's
        dropped once a newer one is asked for)."""
        index = self._ergast.get(build_id)
        if index is None:
            with self._lock:
                index = self._ergast.get(build_id)
                if index is None:
                    index = self._ergast[build_id] = ErgastIndex(build_id)
                    for old in list(self._ergast)[:-ERGAST_BUILDS_KEPT]:
                        del self._ergast[old]
        return index

    def close(self) -> None:
        """Stop watching builds; close the engine's idle connections and the cache client."""
        self.watcher.stop()
        with self._lock:
            if self._cached is not None:
                self._cached.close()  # flushes the query log and statistics
            if self._cache is not None:
                self._cache.close()
            if self._engine is not None:
                self._engine.close()
            self._engine = self._cache = self._cached = None
            self._ergast.clear()
