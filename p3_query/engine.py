"""Execution: plans run on read-only connections to the published snapshot, from a small pool."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from p3_common.settings import Settings, get_settings
from p3_common.snapshot import NotASnapshot, SnapshotMissing, open_snapshot, snapshot_cursor

from . import analysis
from .catalog import Catalog
from .planner import Plan, SqlQuery, build_plan
from .result import QueryResult, ResultTable, plain
from .spec import QuerySpec

DEFAULT_POOL_SIZE = 4


@dataclass(frozen=True)
class Lease:
    """A connection lent by the pool, with the build it reads and that build's catalog.

    Everything done through one lease reads one build, whatever is published meanwhile: resolve
    a spec's refs, plan it and execute it on the same lease and the answer, its ids and its
    ``build_id`` all come from that build.
    """

    cursor: duckdb.DuckDBPyConnection
    build_id: str
    catalog: Catalog

    def normalise(self, spec: QuerySpec) -> QuerySpec:
        """The spec with refs resolved to integer ids on this build (SpecError if unknown)."""
        return self.catalog.resolve(spec)

    def plan(self, spec: QuerySpec) -> Plan:
        """The plan for ``spec`` on this build."""
        return build_plan(spec, self.catalog)

    def execute(self, spec: QuerySpec) -> QueryResult:
        """Answer ``spec`` on this build: plan, run the SQL, add statistics/comparison, limit."""
        started = time.perf_counter()
        plan = self.plan(spec)
        planned = time.perf_counter()
        main = _run(self.cursor, plan.main) if plan.output_metrics else None
        overall = _run(self.cursor, plan.overall) if plan.overall else None
        head_to_head = _run(self.cursor, plan.head_to_head) if plan.head_to_head else None
        labels = self.catalog.dims[plan.spec.entity].labels
        refs = {i: labels[i][0] for i in plan.spec.ids if isinstance(i, int)}
        queried = time.perf_counter()
        tables = _assemble(plan, main, overall, head_to_head, refs)
        finished = time.perf_counter()
        return QueryResult(
            build_id=plan.build_id,
            query_hash=plan.spec.query_hash,
            spec=plan.spec,
            tables=tables,
            timings_ms={
                "plan": _ms(started, planned),
                "sql": _ms(planned, queried),
                "analysis": _ms(queried, finished),
                "total": _ms(started, finished),
            },
        )


@dataclass(eq=False)
class _Generation:
    """Connections to one snapshot file (one inode): retired when the file is replaced."""

    identity: tuple[int, int, int]
    database: duckdb.DuckDBPyConnection
    catalog: Catalog
    idle: list[duckdb.DuckDBPyConnection] = field(default_factory=list)
    in_use: int = 0
    retired: bool = False


class SnapshotPool:
    """At most ``size`` read-only connections to the published snapshot, shared by threads.

    Every checkout compares the file's identity (device, inode, mtime) with the open one; when
    the publish step has swapped in a new file, new checkouts get connections to it while
    leases on the old file finish on the old build, whose connections close once returned.
    The snapshot is ATTACHed into a private in-memory database: ``duckdb.connect(path)`` would
    hand back the cached instance of the replaced file.
    """

    def __init__(self, path: Path, size: int = DEFAULT_POOL_SIZE) -> None:
        self.path = Path(path)
        self.size = size
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._current: _Generation | None = None
        self.opened = 0  # generations opened (observable in tests)

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        """Borrow a connection for the duration of the ``with`` block."""
        with self._slots:
            generation, cursor = self._checkout()
            try:
                yield Lease(cursor, generation.catalog.build_id, generation.catalog)
            finally:
                self._checkin(generation, cursor)

    def current_build_id(self) -> str:
        """The build id of the snapshot published now (opens it if needed)."""
        with self.lease() as lease:
            return lease.build_id

    def open_build_id(self) -> str | None:
        """The build id of the open snapshot while the published file still is it; ``None``
        when none is open yet, or another build (or none) is published now (the next lease
        opens it). One ``stat``; never waits for a free connection."""
        try:
            identity = self._identity()
        except SnapshotMissing:
            return None
        current = self._current
        if current is None or current.identity != identity:
            return None
        return current.catalog.build_id

    def close(self) -> None:
        """Close idle connections; leased ones close when returned."""
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None

    def _identity(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise SnapshotMissing(self.path) from None
        return (stat.st_dev, stat.st_ino, stat.st_mtime_ns)

    def _checkout(self) -> tuple[_Generation, duckdb.DuckDBPyConnection]:
        identity = self._identity()
        with self._lock:
            if self._current is None or self._current.identity != identity:
                if self._current is not None:
                    self._retire(self._current)
                self._current = self._open(identity)
            generation = self._current
            cursor = generation.idle.pop() if generation.idle else self._cursor(generation)
            generation.in_use += 1
            return generation, cursor

    def _checkin(self, generation: _Generation, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            generation.in_use -= 1
            if generation.retired:
                cursor.close()
                if generation.in_use == 0:
                    generation.database.close()
            else:
                generation.idle.append(cursor)

    def _open(self, identity: tuple[int, int, int]) -> _Generation:
        database = open_snapshot(self.path)  # SnapshotMissing / NotASnapshot
        try:
            catalog = Catalog.load(database)
        except duckdb.Error as exc:
            # A P3 snapshot without the published marts the planner needs.
            database.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NotASnapshot(
                f"the published snapshot {self.path} cannot be read ({reason}); publish it "
                "again with `p3 materialize` (or the serving/warehouse_snapshot asset)"
            ) from None
        except Exception:
            database.close()
            raise
        self.opened += 1
        return _Generation(identity, database, catalog)

    @staticmethod
    def _cursor(generation: _Generation) -> duckdb.DuckDBPyConnection:
        return snapshot_cursor(generation.database)

    @staticmethod
    def _retire(generation: _Generation) -> None:
        generation.retired = True
        for cursor in generation.idle:
            cursor.close()
        generation.idle.clear()
        if generation.in_use == 0:
            generation.database.close()


class Engine:
    """Answers query specs on the published snapshot.

    Thread-safe: each call leases its own connection. A cache takes one ``lease()`` per query and
    resolves, reads the build id and executes on it (see the package docstring for the contract).
    """

    def __init__(self, snapshot_path: Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.pool = SnapshotPool(snapshot_path, pool_size)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> Engine:
        """An engine on the snapshot at ``settings.serving_duckdb_path``."""
        settings = settings or get_settings()
        assert settings.serving_duckdb_path is not None
        return cls(settings.serving_duckdb_path, **kwargs)

    @property
    def build_id(self) -> str:
        """The build id of the currently published snapshot."""
        return self.pool.current_build_id()

    def open_build_id(self) -> str | None:
        """The current build's id if it is already open, without waiting for a connection
        (``None``: take a ``lease``, which opens what is published)."""
        return self.pool.open_build_id()

    @contextmanager
    def lease(self) -> Iterator[Lease]:
        """A connection to the current build for several steps that must agree on the build."""
        with self.pool.lease() as lease:
            yield lease

    def normalise(self, spec: QuerySpec) -> QuerySpec:
        """The spec with refs resolved to integer ids: the form whose hash keys the cache."""
        with self.lease() as lease:
            return lease.normalise(spec)

    def explain(self, spec: QuerySpec) -> Plan:
        """The plan for ``spec`` on the current build (``.explain()`` / ``.explain_text()``)."""
        with self.lease() as lease:
            return lease.plan(spec)

    def execute(self, spec: QuerySpec) -> QueryResult:
        """Answer ``spec``: plan, run the SQL, add statistics/comparison, apply the limit."""
        with self.lease() as lease:
            return lease.execute(spec)

    def close(self) -> None:
        """Close the pool's idle connections."""
        self.pool.close()


def _run(cursor: duckdb.DuckDBPyConnection, query: SqlQuery) -> ResultTable:
    result = cursor.execute(query.sql, query.params)
    columns = tuple(d[0] for d in result.description)
    rows = tuple(tuple(plain(v) for v in row) for row in result.fetchall())
    return ResultTable(columns, rows)


def _assemble(
    plan: Plan,
    main: ResultTable | None,
    overall: ResultTable | None,
    head_to_head: ResultTable | None,
    refs: dict[int, str],
) -> dict[str, ResultTable]:
    spec = plan.spec
    tables: dict[str, ResultTable] = {}
    if main is None:
        tables["rows"] = ResultTable((), ())
    elif plan.limit_in_sql:
        tables["rows"] = main
    else:
        # With statistics or a comparison the SQL returned every row (already ordered), so they
        # see the whole answer; the limit applies to the rows returned.
        tables["rows"] = ResultTable(main.columns, main.rows[: spec.limit])
    if spec.statistics and main is not None:
        tables["statistics"] = analysis.statistics(main, spec, plan.output_metrics)
    if spec.compare:
        seasonal = "season" in spec.group_by
        tables["comparison"] = analysis.comparison(
            spec,
            plan.output_metrics,
            per_season=main if seasonal else None,
            overall=overall if seasonal else main,
            head_to_head=head_to_head,
            refs=refs,
        )
    return tables


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)


__all__ = ["Engine", "Lease", "QueryResult", "SnapshotPool"]
