"""Value types shared by the cache backends: query references, results, log events and statistics."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from p3_query.spec import QuerySpec

from .latency import summarise

Origin = Literal["read-through", "warm", "prefetch"]
Source = Literal["cache", "compute", "degraded"]

# Fields that carry the "arguments" of a query rather than its shape: two specs that differ only
# in these share a template (e.g. "wins per season" for Ferrari and for McLaren).
PARAMETER_FIELDS = ("ids", "seasons", "limit")


@dataclass(frozen=True)
class QueryRef:
    """A query as the cache sees it: its hash, its template and its normalised spec JSON."""

    query_hash: str
    template: str
    spec_json: str = ""

    @classmethod
    def of(cls, spec: QuerySpec) -> QueryRef:
        """The reference of a (normalised) spec: its ``query_hash`` and canonical JSON."""
        spec_json = spec.canonical_json()
        return cls(spec.query_hash, template_of(spec_json), spec_json)


def template_of(spec_json: str) -> str:
    """A short readable name for a spec's shape: entity, metrics and grouping, without arguments."""
    try:
        data = json.loads(spec_json) if spec_json else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    shape = {k: v for k, v in data.items() if k not in PARAMETER_FIELDS}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    entity = str(data.get("entity", "query"))
    metrics = data.get("metrics") or []
    names = [m if isinstance(m, str) else str(m.get("name", m)) for m in metrics][:3]
    label = "+".join(str(n) for n in names) or "q"
    return f"{entity}/{label}/{digest}"


@dataclass(frozen=True)
class Computed:
    """What a compute function may return instead of bare bytes: the payload and the in-memory
    value, so a miss need not decode the payload it just encoded."""

    payload: bytes
    value: Any = None


@dataclass(frozen=True)
class CacheResult:
    """One answer: the payload, whether it came from the cache, and from which build."""

    payload: bytes
    hit: bool
    build_id: str | None
    latency_ms: float
    source: Source
    origin: Origin | None = None
    value: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class QueryEvent:
    """One line of the query log (and the unit the statistics are aggregated from)."""

    ts: float
    query_hash: str
    template: str
    latency_ms: float
    hit: bool
    build_id: str | None = None
    source: Source = "cache"
    origin: Origin | None = None
    cost_ms: float = 0.0
    session: str | None = None
    spec_json: str = ""

    def to_json(self) -> str:
        """Compact JSON, the form stored in the backend's query log."""
        data = {k: v for k, v in asdict(self).items() if k != "spec_json"}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> QueryEvent:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class WarmItem:
    """A query to pre-compute for a build, with how popular it has been (for its TTL)."""

    ref: QueryRef
    compute: Callable[[], bytes]
    popularity: int = 0


@dataclass(frozen=True)
class WarmReport:
    """What warming a build did."""

    build_id: str
    previous_build: str | None
    requested: int
    computed: int
    already_cached: int
    failed: int
    compute_ms: float
    flipped: bool
    retired_entries: int = 0


@dataclass(frozen=True)
class QueryStat:
    """Per-query totals: how often it was asked and what it costs."""

    query_hash: str
    template: str
    requests: int
    hits: int
    misses: int
    mean_cost_ms: float
    max_cost_ms: float


@dataclass
class CacheStats:
    """Cache analytics, read back from the backend so they cover every process that used it."""

    backend: str
    current_build: str | None
    hits: int = 0
    misses: int = 0
    degraded: int = 0
    evictions: int = 0
    expired: int = 0
    retired: int = 0
    prefetches: int = 0
    entries: int = 0
    memory_bytes: int = 0
    hits_by_origin: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    hottest: list[QueryStat] = field(default_factory=list)
    most_expensive: list[QueryStat] = field(default_factory=list)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_counters(
        cls,
        backend: str,
        current_build: str | None,
        counters: Mapping[str, Any],
        histograms: Mapping[str, Mapping[int, int]],
        builds: dict[str, dict[str, Any]],
        *,
        hottest: list[QueryStat],
        most_expensive: list[QueryStat],
        notes: dict[str, Any],
        evictions: int | None = None,
        expired: int | None = None,
    ) -> CacheStats:
        """Stats from the counters and latency histograms every backend keeps under the same names.

        ``evictions``/``expired`` override the counters where the server tracks them itself (Redis).
        """

        def count(name: str) -> int:
            return int(counters.get(name, 0))

        return cls(
            backend=backend,
            current_build=current_build,
            hits=count("hits"),
            misses=count("misses"),
            degraded=count("degraded"),
            evictions=count("evictions") if evictions is None else evictions,
            expired=count("expired") if expired is None else expired,
            retired=count("retired"),
            prefetches=count("prefetches"),
            entries=int(builds.get(current_build or "", {}).get("entries", 0)),
            memory_bytes=int(sum(b["bytes"] for b in builds.values())),
            hits_by_origin={o: count(f"hits_{o}") for o in ("read-through", "warm", "prefetch")},
            latency={
                kind: summarise(
                    dict(histograms.get(kind, {})), counters.get(f"latency_ms_{kind}", 0.0)
                )
                for kind in ("hit", "miss", "degraded")
            },
            hottest=hottest,
            most_expensive=most_expensive,
            builds=builds,
            notes=notes,
        )

    @property
    def requests(self) -> int:
        """Every answered query: hits, misses and those answered while the backend was down."""
        return self.hits + self.misses + self.degraded

    @property
    def hit_ratio(self) -> float:
        """Hits over all answered queries (0 when there were none)."""
        return self.hits / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for asset metadata and ``p3 cache stats --json``)."""
        data = asdict(self)
        data["requests"] = self.requests
        data["hit_ratio"] = round(self.hit_ratio, 4)
        return data
