"""``/v1/cache/stats`` and ``/v1/cache/clear``: the query cache's analytics and control (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from p3_query.cache import CacheUnavailable

from ..problems import Problem

router = APIRouter(prefix="/v1/cache", tags=["cache"])


@router.get("/stats", summary="Query cache analytics")
async def stats(request: Request, top: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    """Hits, misses, hit ratio, evictions, memory, latency by hit and miss, the hottest and costliest
    queries (over every process that used the shared cache), and this process's response cache."""
    service = request.app.state.snapshot
    try:
        result = await run_in_threadpool(service.query_cache.stats, top)
    except CacheUnavailable as exc:
        raise Problem(503, f"the query cache is unavailable: {exc}") from None
    return {
        "query_cache": result.to_dict(),
        "response_cache": {
            "entries": len(service.responses),
            "bytes": service.responses.size_bytes,
            "max_bytes": service.responses.max_bytes,
        },
    }


class ClearRequest(BaseModel):
    """What to clear."""

    build_id: str | None = Field(
        default=None,
        description="Only this build's entries; null clears every entry, statistic, log line and "
        "stored model of the query cache.",
        max_length=64,
    )


class Cleared(BaseModel):
    deleted: int = Field(description="Query cache keys or rows deleted.")
    response_cache_entries_dropped: int = Field(description="In this process only.")


@router.post("/clear", summary="Clear the query cache")
async def clear(request: Request, body: ClearRequest) -> Cleared:
    """Delete one build's cached answers, or everything the query cache holds. Other API processes
    drop their response caches when the build they serve changes."""
    service = request.app.state.snapshot
    try:
        deleted = await run_in_threadpool(service.query_cache.clear, body.build_id)
    except CacheUnavailable as exc:
        raise Problem(503, f"the query cache is unavailable: {exc}") from None
    except ValueError as exc:  # a malformed build id
        raise Problem(422, f"build_id: {exc}") from None
    dropped = service.responses.keep_builds(set())
    return Cleared(deleted=int(deleted), response_cache_entries_dropped=dropped)
