"""Embedded backend: one SQLite file in WAL mode under ``P3_CACHE_DIR``, shared by every process.

Why SQLite rather than a directory of files: the cache needs more than blobs. The build flip must
be atomic together with retiring the old build, hit/miss counters must add up across concurrent
processes, and "hottest" or "most expensive" are ordered queries over per-query totals. SQLite gives
all of that in transactions, from the standard library, with no server. WAL mode lets readers run
while a writer commits and a reader's single SELECT sees one consistent state, which is exactly the
"never a mix of two builds" guarantee. A cached hit is one indexed SELECT (tens of microseconds).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from .base import CacheUnavailable, QueryCache
from .core import CacheStats, Origin, QueryEvent, QueryRef, QueryStat
from .keys import current_key, entry_key
from .latency import bucket_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    build_id TEXT NOT NULL,
    query_hash TEXT NOT NULL,
    payload BLOB NOT NULL,
    origin TEXT NOT NULL,
    cost_ms REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_hit_at REAL,
    expires_at REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_build ON entries (build_id);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at);
CREATE TABLE IF NOT EXISTS builds (
    build_id TEXT PRIMARY KEY, first_seen REAL NOT NULL, flipped_at REAL, retired_at REAL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS latency (
    kind TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (kind, bucket)
);
CREATE TABLE IF NOT EXISTS queries (
    query_hash TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    spec_json TEXT NOT NULL DEFAULT '',
    hits INTEGER NOT NULL DEFAULT 0,
    misses INTEGER NOT NULL DEFAULT 0,
    cost_total_ms REAL NOT NULL DEFAULT 0,
    cost_count INTEGER NOT NULL DEFAULT 0,
    cost_max_ms REAL NOT NULL DEFAULT 0,
    last_seen REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    query_hash TEXT NOT NULL,
    template TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    hit INTEGER NOT NULL,
    build_id TEXT,
    source TEXT NOT NULL,
    origin TEXT,
    cost_ms REAL NOT NULL,
    session TEXT
);
CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


_COUNTER_OF = {"hit": "hits", "miss": "misses", "degraded": "degraded"}


def _col(i: int) -> str:
    return f"json_extract(value, '$[{i}]')"


# "WHERE true" lets SQLite parse INSERT ... SELECT ... ON CONFLICT unambiguously.
_FOLD_COUNTERS = (
    f"INSERT INTO counters (name, value) SELECT {_col(0)}, {_col(1)} FROM json_each(?) WHERE true "
    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
_FOLD_LATENCY = (
    f"INSERT INTO latency (kind, bucket, count) SELECT {_col(0)}, {_col(1)}, {_col(2)} "
    "FROM json_each(?) WHERE true "
    "ON CONFLICT (kind, bucket) DO UPDATE SET count = count + excluded.count"
)
_FOLD_QUERIES = (
    "INSERT INTO queries (query_hash, template, spec_json, hits, misses, cost_total_ms, "
    "cost_count, cost_max_ms, last_seen) SELECT "
    + ", ".join(_col(i) for i in range(9))
    + " FROM json_each(?) WHERE true "
    "ON CONFLICT (query_hash) DO UPDATE SET hits = hits + excluded.hits, "
    "misses = misses + excluded.misses, "
    "cost_total_ms = cost_total_ms + excluded.cost_total_ms, "
    "cost_count = cost_count + excluded.cost_count, "
    "cost_max_ms = max(cost_max_ms, excluded.cost_max_ms), "
    "last_seen = max(last_seen, excluded.last_seen), "
    "spec_json = CASE WHEN queries.spec_json = '' THEN excluded.spec_json "
    "ELSE queries.spec_json END"
)
_APPEND_LOG = (
    "INSERT INTO query_log (ts, query_hash, template, latency_ms, hit, build_id, source, origin, "
    "cost_ms, session) SELECT " + ", ".join(_col(i) for i in range(10)) + " FROM json_each(?)"
)
_EXTEND_TTLS = f"""
UPDATE entries SET
    hits = entries.hits + h.n,
    last_hit_at = :now,
    expires_at = CASE WHEN entries.build_id = (SELECT value FROM meta WHERE name = :current)
        THEN max(entries.expires_at, :now + min(:max, max(:min,
            :base * (1 + log2(1 + entries.hits + h.n)) * (1 + log2(1 + entries.cost_ms / :ref)))))
        ELSE entries.expires_at END
FROM (SELECT {_col(0)} AS key, {_col(1)} AS n FROM json_each(:hits)) AS h
WHERE entries.key = h.key
"""


def _json(rows: Sequence[Sequence[object]]) -> str:
    return json.dumps(rows, separators=(",", ":"))


class EmbeddedCache(QueryCache):
    """The default cache: a SQLite WAL file (``<cache_dir>/<prefix>.sqlite3``), no server needed."""

    backend_name = "embedded"

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_log_rows: int = 200_000,
        maintenance_interval_s: float = 10.0,
        busy_timeout_ms: int = 30_000,
        **options: object,
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.directory = Path(directory)
        self.path = self.directory / f"{self.prefix}.sqlite3"
        self.max_bytes = max_bytes
        self.max_log_rows = max_log_rows
        self.maintenance_interval_s = maintenance_interval_s
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._last_maintenance = 0.0
        self._current_name = current_key(self.prefix)
        # Nothing is opened here: an unusable file must degrade queries, not fail construction.

    # ----------------------------------------------------------------- connections
    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is not None and self._local.pid == os.getpid():
            return con
        # Autocommit (isolation_level=None): single statements are their own read transaction
        # and writes say BEGIN IMMEDIATE explicitly, so a writer never upgrades a read lock.
        self.directory.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.busy_timeout_ms / 1000,
        )
        con.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: commits survive a process crash, only an OS crash can lose the last ones.
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        con.executescript(_SCHEMA)
        try:
            con.execute("SELECT log2(2)")
        except sqlite3.OperationalError:  # SQLite built without its math functions
            con.create_function("log2", 1, math.log2, deterministic=True)
        self._local.con, self._local.pid = con, os.getpid()
        with self._connections_lock:
            self._connections.append(con)
        return con

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise CacheUnavailable(f"{self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            con = self._con()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # ----------------------------------------------------------------- primitives
    def _lookup(
        self, query_hash: str, fallback_build: str | None
    ) -> tuple[str | None, bytes | None, Origin | None]:
        now = time.time()
        with self._guard():
            con = self._con()
            # One statement = one read snapshot: the pointer and the entry come from the same state.
            row = con.execute(
                "SELECT m.value, e.payload, e.origin FROM meta AS m "
                "LEFT JOIN entries AS e ON e.key = ? || ':' || m.value || ':' || ? "
                "AND e.expires_at > ? WHERE m.name = ?",
                (self.prefix, query_hash, now, self._current_name),
            ).fetchone()
            if row is not None:
                return row[0], row[1], row[2]
            if fallback_build is None:
                return None, None, None
            row = con.execute(
                "SELECT payload, origin FROM entries WHERE key = ? AND expires_at > ?",
                (entry_key(fallback_build, query_hash, self.prefix), now),
            ).fetchone()
        return (fallback_build, row[0], row[1]) if row else (fallback_build, None, None)

    def _store(
        self,
        build_id: str,
        ref: QueryRef,
        payload: bytes,
        cost_ms: float,
        origin: Origin,
        ttl_s: float,
    ) -> None:
        with self._write() as con:
            self._insert_entries(con, build_id, [(ref, payload, cost_ms, ttl_s)], origin)

    def _insert_entries(
        self,
        con: sqlite3.Connection,
        build_id: str,
        entries: list[tuple[QueryRef, bytes, float, float]],
        origin: Origin,
    ) -> None:
        now = time.time()
        con.execute(
            "INSERT OR IGNORE INTO builds (build_id, first_seen) VALUES (?, ?)", (build_id, now)
        )
        con.executemany(
            "INSERT OR REPLACE INTO entries (key, build_id, query_hash, payload, origin, cost_ms, "
            "hits, created_at, expires_at, size) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            [
                (
                    entry_key(build_id, ref.query_hash, self.prefix),
                    build_id,
                    ref.query_hash,
                    payload,
                    origin,
                    cost_ms,
                    now,
                    now + ttl_s,
                    len(payload),
                )
                for ref, payload, cost_ms, ttl_s in entries
            ],
        )
        con.executemany(
            "INSERT INTO queries (query_hash, template, spec_json) VALUES (?, ?, ?) "
            "ON CONFLICT (query_hash) DO UPDATE SET spec_json = excluded.spec_json "
            "WHERE queries.spec_json = '' AND excluded.spec_json != ''",
            [(ref.query_hash, ref.template, ref.spec_json) for ref, *_ in entries],
        )

    def _commit_build(
        self,
        build_id: str,
        entries: list[tuple[QueryRef, bytes, float, float]],
        flip: bool,
    ) -> tuple[str | None, int]:
        now = time.time()
        # Entries, pointer and retirement in one transaction: readers see all of it or none.
        with self._write() as con:
            self._insert_entries(con, build_id, entries, "warm")
            row = con.execute(
                "SELECT value FROM meta WHERE name = ?", (self._current_name,)
            ).fetchone()
            previous = row[0] if row else None
            if not flip:
                return previous, 0
            con.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (self._current_name, build_id),
            )
            con.execute("UPDATE builds SET flipped_at = ? WHERE build_id = ?", (now, build_id))
            grace = now + self.ttl.retire_grace_s
            retired = con.execute(
                "UPDATE entries SET expires_at = ? WHERE build_id != ? AND expires_at > ?",
                (grace, build_id, grace),
            ).rowcount
            con.execute(
                "UPDATE builds SET retired_at = ? WHERE build_id != ? AND retired_at IS NULL",
                (now, build_id),
            )
            _add_counters(con, {"retired": retired})
        return previous, retired

    def _existing(self, build_id: str, query_hashes: list[str]) -> set[str]:
        now = time.time()
        found: set[str] = set()
        with self._guard():
            con = self._con()
            for chunk in _chunks(query_hashes, 500):
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT query_hash FROM entries WHERE build_id = ? AND expires_at > ? "
                    f"AND query_hash IN ({marks})",
                    (build_id, now, *chunk),
                ).fetchall()
                found.update(r[0] for r in rows)
        return found

    def _ttl_remaining(self, build_id: str, query_hash: str) -> float | None:
        now = time.time()
        with self._guard():
            row = (
                self._con()
                .execute(
                    "SELECT expires_at FROM entries WHERE key = ? AND expires_at > ?",
                    (entry_key(build_id, query_hash, self.prefix), now),
                )
                .fetchone()
            )
        return row[0] - now if row else None

    def _current(self) -> str | None:
        with self._guard():
            row = (
                self._con()
                .execute("SELECT value FROM meta WHERE name = ?", (self._current_name,))
                .fetchone()
            )
        return row[0] if row else None

    def _flush(self, events: list[QueryEvent], counters: dict[str, int]) -> None:
        # Everything is prepared here, outside the transaction, and handed to SQLite as a few JSON
        # documents that it unpacks itself (json_each): a handful of statements per flush, however
        # many events. Row-by-row executemany releases and re-takes the GIL for every row; next to
        # busy reader threads that kept the write lock held for seconds and starved warm/flip.
        totals: Counter[str] = Counter(counters)
        buckets: Counter[tuple[str, int]] = Counter()
        per_query: dict[str, list[QueryEvent]] = defaultdict(list)
        entry_hits: Counter[str] = Counter()
        for event in events:
            kind = "hit" if event.hit else ("degraded" if event.source == "degraded" else "miss")
            totals[_COUNTER_OF[kind]] += 1
            totals[f"latency_ms_{kind}"] += event.latency_ms  # type: ignore[assignment]
            buckets[(kind, bucket_of(event.latency_ms))] += 1
            if event.hit:
                totals[f"hits_{event.origin or 'read-through'}"] += 1
                if event.build_id:
                    entry_hits[entry_key(event.build_id, event.query_hash, self.prefix)] += 1
            per_query[event.query_hash].append(event)
        documents = {
            "counters": _json([[name, value] for name, value in totals.items() if value]),
            "latency": _json([[kind, bucket, n] for (kind, bucket), n in buckets.items()]),
            "queries": _json([_query_row(h, evs) for h, evs in per_query.items()]),
            "log": _json(
                [
                    [
                        e.ts,
                        e.query_hash,
                        e.template,
                        e.latency_ms,
                        int(e.hit),
                        e.build_id,
                        e.source,
                        e.origin,
                        e.cost_ms,
                        e.session,
                    ]
                    for e in events
                ]  # fmt: skip
            ),
            "hits": _json([[key, n] for key, n in entry_hits.items()]),
        }
        now = time.time()
        t = self.ttl
        with self._write() as con:
            con.execute(_FOLD_COUNTERS, (documents["counters"],))
            con.execute(_FOLD_LATENCY, (documents["latency"],))
            con.execute(_FOLD_QUERIES, (documents["queries"],))
            con.execute(_APPEND_LOG, (documents["log"],))
            # Hits extend the TTL by the adaptive formula (ttl.py), current build only.
            con.execute(
                _EXTEND_TTLS,
                {
                    "hits": documents["hits"],
                    "now": now,
                    "current": self._current_name,
                    "base": t.base_s,
                    "min": t.min_s,
                    "max": t.max_s,
                    "ref": t.ref_cost_ms,
                },
            )
            if now - self._last_maintenance >= self.maintenance_interval_s:
                self._maintain(con, now)

    def _maintain(self, con: sqlite3.Connection, now: float) -> None:
        """Drop expired entries, evict beyond ``max_bytes``, trim the query log."""
        self._last_maintenance = now
        expired = con.execute("DELETE FROM entries WHERE expires_at <= ?", (now,)).rowcount
        total = con.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
        evicted = 0
        if total > self.max_bytes:
            # Least valuable first: other builds, then the least read, then the oldest.
            current = con.execute(
                "SELECT value FROM meta WHERE name = ?", (self._current_name,)
            ).fetchone()
            rows = con.execute(
                "SELECT key, size FROM entries ORDER BY build_id = ?, hits, "
                "coalesce(last_hit_at, created_at)",
                (current[0] if current else "",),
            ).fetchall()
            target = int(self.max_bytes * 0.9)
            victims = []
            for key, size in rows:
                if total <= target:
                    break
                victims.append((key,))
                total -= size
            con.executemany("DELETE FROM entries WHERE key = ?", victims)
            evicted = len(victims)
        last = con.execute("SELECT max(id) FROM query_log").fetchone()[0]
        if last is not None and last > self.max_log_rows:
            con.execute("DELETE FROM query_log WHERE id <= ?", (last - self.max_log_rows,))
        _add_counters(con, {"expired": expired, "evictions": evicted})

    def _stats(self, top: int) -> CacheStats:
        now = time.time()
        with self._guard():
            con = self._con()
            con.execute("BEGIN")  # one read snapshot for every figure
            try:
                current = con.execute(
                    "SELECT value FROM meta WHERE name = ?", (self._current_name,)
                ).fetchone()
                counters = dict(con.execute("SELECT name, value FROM counters").fetchall())
                hist: dict[str, dict[int, int]] = defaultdict(dict)
                for kind, bucket, count in con.execute("SELECT kind, bucket, count FROM latency"):
                    hist[kind][bucket] = count
                builds = {
                    b: {
                        "entries": n,
                        "bytes": size,
                        "flipped_at": flipped,
                        "retired_at": retired,
                    }
                    for b, n, size, flipped, retired in con.execute(
                        "SELECT b.build_id, count(e.key), coalesce(sum(e.size), 0), b.flipped_at, "
                        "b.retired_at FROM builds AS b LEFT JOIN entries AS e "
                        "ON e.build_id = b.build_id AND e.expires_at > ? GROUP BY b.build_id",
                        (now,),
                    )
                }
                hottest = _query_stats(con, "hits + misses > 0", "hits + misses DESC", top)
                costliest = _query_stats(con, "cost_count > 0", "cost_max_ms DESC", top)
            finally:
                con.execute("COMMIT")
        current_build = current[0] if current else None
        file_bytes = sum(
            p.stat().st_size for p in self.directory.glob(f"{self.prefix}.sqlite3*") if p.exists()
        )
        return CacheStats.from_counters(
            self.backend_name,
            current_build,
            counters,
            hist,
            builds,
            hottest=hottest,
            most_expensive=costliest,
            notes={"path": str(self.path), "file_bytes": file_bytes, "max_bytes": self.max_bytes},
        )

    def _query_log(self, since: float | None, limit: int | None) -> list[QueryEvent]:
        sql = (
            "SELECT ts, query_hash, template, latency_ms, hit, build_id, source, origin, cost_ms, "
            "session FROM query_log WHERE ts >= ? ORDER BY id"
        )
        params: tuple[object, ...] = (since or 0.0,)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT ?) ORDER BY ts"
            params = (since or 0.0, limit)
        with self._guard():
            rows = self._con().execute(sql, params).fetchall()
        return [
            QueryEvent(
                ts=r[0],
                query_hash=r[1],
                template=r[2],
                latency_ms=r[3],
                hit=bool(r[4]),
                build_id=r[5],
                source=r[6],
                origin=r[7],
                cost_ms=r[8],
                session=r[9],
            )
            for r in rows
        ]

    def _spec_jsons(self, query_hashes: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._guard():
            con = self._con()
            for chunk in _chunks(query_hashes, 500):
                marks = ",".join("?" * len(chunk))
                found.update(
                    con.execute(
                        f"SELECT query_hash, spec_json FROM queries "
                        f"WHERE spec_json != '' AND query_hash IN ({marks})",
                        chunk,
                    ).fetchall()
                )
        return found

    def _set_document(self, name: str, document: str) -> None:
        with self._write() as con:
            con.execute(
                "INSERT INTO documents (name, body) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                (name, document),
            )

    def _get_document(self, name: str) -> str | None:
        with self._guard():
            row = (
                self._con().execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
            )
        return row[0] if row else None

    def _clear(self, build_id: str | None) -> int:
        with self._write() as con:
            if build_id is not None:
                return con.execute("DELETE FROM entries WHERE build_id = ?", (build_id,)).rowcount
            deleted = con.execute("DELETE FROM entries").rowcount
            for table in (
                "meta", "builds", "counters", "latency", "queries", "query_log", "documents"
            ):  # fmt: skip
                con.execute(f"DELETE FROM {table}")
            return deleted

    def _close(self) -> None:
        with self._connections_lock:
            for con in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
            self._connections.clear()
        self._local = threading.local()


def _add_counters(con: sqlite3.Connection, deltas: dict[str, float] | Counter[str]) -> None:
    con.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        [(name, value) for name, value in deltas.items() if value],
    )


def _query_row(query_hash: str, events: list[QueryEvent]) -> tuple[object, ...]:
    costs = [e.cost_ms for e in events if not e.hit and e.cost_ms > 0]
    spec_json = next((e.spec_json for e in events if e.spec_json), "")
    return (
        query_hash,
        events[0].template,
        spec_json,
        sum(e.hit for e in events),
        sum(not e.hit for e in events),
        sum(costs),
        len(costs),
        max(costs, default=0.0),
        max(e.ts for e in events),
    )


def _query_stats(con: sqlite3.Connection, where: str, order: str, top: int) -> list[QueryStat]:
    rows = con.execute(
        "SELECT query_hash, template, hits, misses, cost_total_ms, cost_count, cost_max_ms "
        f"FROM queries WHERE {where} ORDER BY {order}, query_hash LIMIT ?",
        (top,),
    ).fetchall()
    return [
        QueryStat(
            query_hash=h,
            template=t,
            requests=hits + misses,
            hits=hits,
            misses=misses,
            mean_cost_ms=round(total / n, 3) if n else 0.0,
            max_cost_ms=round(mx, 3),
        )
        for h, t, hits, misses, total, n, mx in rows
    ]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
