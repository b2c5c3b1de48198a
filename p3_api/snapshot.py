"""The published snapshot as the API sees it: one query engine per process, opened lazily.

``p3_query``'s engine checks the snapshot file's identity on every lease, so a newly published
snapshot is picked up by the next request while requests in flight finish on the build they
started on; nothing here restarts or waits.
"""

from __future__ import annotations

import threading
from pathlib import Path

from p3_query.engine import Engine


class SnapshotService:
    """Lazily opens the engine, so the API starts (and says why it is not ready) without a snapshot."""

    def __init__(self, path: Path, *, pool_size: int) -> None:
        self.path = path
        self.pool_size = pool_size
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine over the published snapshot (SnapshotMissing / NotASnapshot on first use)."""
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.path, pool_size=self.pool_size)
            return self._engine

    def close(self) -> None:
        """Close the engine's idle connections (leased ones close when returned)."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
