"""The local instance's event log: Dagster's SQLite storage with cheaper and batched writes.

Dagster's `SqliteEventLogStorage` makes every event its own SQLite transaction on a new engine
and a new connection (WAL journal, `synchronous=FULL`): closing the only connection to a file
checkpoints and fsyncs it, so each transaction waits for the disk, and an asset or check event is
two or three transactions (the run's file, then the cross-run index). Measured here: 7-39 ms per
event; a run writes ~900 (new race) to ~3,400 (cold).

`LocalSqliteEventLogStorage` keeps Dagster's files, schema, journal and reads, and changes two
things:

- **`synchronous` (default OFF)** on every connection: SQLite hands writes to the OS without
  waiting for the disk (3-6 ms per single event instead of 7-39). `NORMAL` does not help here:
  with a connection per write, the checkpoint on close still syncs. **Durability traded**: a
  process crash (kill -9 included) loses nothing committed, since the OS has the writes; an OS
  crash or power loss shortly after a write can lose the last events or corrupt the local run
  history (`$P3_HOME/dagster/history`; delete it to start over). The warehouse and what P3
  publishes do not live there, and production uses PostgreSQL (deploy/dagster.yaml). `FULL`
  restores Dagster's behaviour.
- **`store_event_batch` in one transaction per file** instead of one per event (~1 ms per event).
  Dagster sends a batch when `DAGSTER_EVENT_BATCH_SIZE` > 0 (`p3 materialize` sets it): the planned
  events of a new run (one per asset and per check, 389 for a new-race run) and the
  per-partition materialisations of one step. If the batch fails, none of it is committed, and
  Dagster writes the events again one at a time.

Configured in deploy/dagster.local.yaml as the local instance's `event_log_storage`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL")


def default_base_dir() -> str:
    """Where Dagster's own `storage: sqlite` keeps run event logs, so an existing home keeps them."""
    return os.path.join(os.environ["DAGSTER_HOME"], "history", "runs")


class LocalSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage for the local instance: `synchronous` pragma, batched writes.

    Config: `base_dir` (default `$DAGSTER_HOME/history/runs`, Dagster's own layout) and
    `synchronous` (OFF, NORMAL or FULL; default OFF).
    """

    def __init__(
        self,
        base_dir: str | None = None,
        synchronous: str = "OFF",
        inst_data: ConfigurableClassData | None = None,
    ):
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        # Set before the base class initialises the index shard through `_connect`.
        self._synchronous = synchronous
        self._engines: dict[str, Engine] = {}
        self._held = threading.local()
        super().__init__(base_dir or default_base_dir(), inst_data)
        # Reentrant: a batch holds the lock while the base class's writes connect again.
        self._db_lock = threading.RLock()  # type: ignore[assignment]

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """`base_dir` and `synchronous`, both optional."""
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "synchronous": dg.Field(dg.String, is_required=False, default_value="OFF"),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> LocalSqliteEventLogStorage:
        """Build the storage from the instance config (dagster.yaml)."""
        return cls(inst_data=inst_data, **config_value)

    @property
    def synchronous(self) -> str:
        """The `PRAGMA synchronous` every connection runs with."""
        return self._synchronous

    def _engine(self, shard: str) -> Engine:
        # One engine per file rather than one per write; NullPool still opens a connection per
        # use, so nothing is shared between threads or forked processes.
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            pragma = f"PRAGMA synchronous={self._synchronous}"

            def set_pragma(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute(pragma)
                cursor.close()

            sqlalchemy_event.listen(engine, "connect", set_pragma)
            self._engines[shard] = engine
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        held = getattr(self._held, "connections", {}).get(shard)
        if held is not None:
            # Inside a batch: the write joins the batch's transaction on this file.
            yield held
            return
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    @contextmanager
    def _holding(self, shard: str) -> Iterator[None]:
        connections: dict[str, Connection] = self._held.__dict__.setdefault("connections", {})
        with self._connect(shard) as conn:
            connections[shard] = conn
            try:
                yield
            finally:
                del connections[shard]

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store ``events`` of one run in one transaction on the run's file and one on the index.

        Each event is written exactly as `store_event` writes it (the run's row, the index's
        asset and check rows), so reads cannot tell a batch from single writes. The run's
        transaction commits first, as with single writes.
        """
        run_ids = {event.run_id for event in events}
        if len(run_ids) != 1:
            super().store_event_batch(events)
            return
        (run_id,) = run_ids
        # The index is held outermost so that it commits after the run's file.
        with self._holding(INDEX_SHARD_NAME), self._holding(run_id):
            for event in events:
                self.store_event(event)

    def dispose(self) -> None:
        """Stop the watcher and drop the engines."""
        super().dispose()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
