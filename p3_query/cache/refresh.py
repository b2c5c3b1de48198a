"""What the cache asset does after a publish: warm the new build with the model's hot set, flip, report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .base import CacheUnavailable, QueryCache
from .calendar import RaceCalendar
from .core import CacheStats, WarmReport
from .predict import QueryPredictor
from .warming import ComputeSpec, PlannedQuery, plan_hot_set, warm_build


@dataclass
class RefreshResult:
    """The outcome of one refresh, shaped for asset metadata."""

    build_id: str
    phase: str
    planned: list[PlannedQuery]
    report: WarmReport
    model: dict[str, Any]
    stats: CacheStats
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None  # why the backend could not be reached (nothing was warmed)

    def metadata(self) -> dict[str, Any]:
        """Plain values for ``MaterializeResult.metadata``."""
        s = self.stats
        return {
            "build_id": self.build_id,
            "previous_build_id": self.report.previous_build or "none",
            "backend": s.backend,
            "calendar_phase": self.phase,
            "warmed": self.report.computed,
            "already_cached": self.report.already_cached,
            "warm_failed": self.report.failed,
            "warm_compute_ms": self.report.compute_ms,
            "retired_entries": self.report.retired_entries,
            "hits": s.hits,
            "misses": s.misses,
            "degraded": s.degraded,
            "hit_ratio": round(s.hit_ratio, 4),
            "evictions": s.evictions,
            "expired": s.expired,
            "prefetches": s.prefetches,
            "entries": s.entries,
            "memory_bytes": s.memory_bytes,
            "hits_by_origin": s.hits_by_origin,
            "latency_ms": s.latency,
            "hottest": [q.__dict__ for q in s.hottest],
            "most_expensive": [q.__dict__ for q in s.most_expensive],
            "model": self.model,
            "seconds": round(self.seconds, 3),
            "cache_unavailable": self.unavailable is not None,
        }


def refresh_cache(
    cache: QueryCache,
    build_id: str,
    compute_spec: ComputeSpec,
    *,
    model: QueryPredictor | None,
    calendar: RaceCalendar | None = None,
    budget: int = 200,
    now: float | None = None,
    horizon_hours: float = 24.0,
) -> RefreshResult:
    """Warm ``build_id`` with ``model``'s hot set, then flip ``p3:current`` to it.

    ``model`` is the sequence model trained on the query log (``serving/query_sequence_model``);
    without one the most requested queries so far are warmed. The phase warmed for is the one
    ``horizon_hours`` after ``now`` (a publish usually lands right after a race, so the post-race
    favourites are warmed). Idempotent: refreshing the current build again computes only what is
    missing and flips to the same build. If the backend is unreachable, nothing is warmed or
    flipped: the result says so (``unavailable``) after one warning, and no exception is raised.
    """
    started = time.perf_counter()
    calendar = calendar or RaceCalendar()
    now = time.time() if now is None else now
    phase = calendar.phase_after(now, horizon_hours)
    try:
        planned = plan_hot_set(cache, model, phase=phase, budget=budget)
        report = warm_build(cache, build_id, planned, compute_spec)
        stats = cache.stats()
    except CacheUnavailable as exc:
        # The cache is optional: readers answer from the snapshot. Warn (once) and report it.
        cache.report_unavailable(exc)
        return RefreshResult(
            build_id=build_id,
            phase=phase,
            planned=[],
            report=WarmReport(build_id, None, 0, 0, 0, 0, 0.0, False),
            model=model.summary() if model else {},
            stats=CacheStats(backend=cache.backend_name, current_build=None),
            seconds=time.perf_counter() - started,
            unavailable=str(exc),
        )
    return RefreshResult(
        build_id=build_id,
        phase=phase,
        planned=planned,
        report=report,
        model=model.summary() if model else {},
        stats=stats,
        seconds=time.perf_counter() - started,
    )
