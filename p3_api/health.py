"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (it can serve)."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from p3_common.snapshot import SnapshotError, read_snapshot

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: snapshot loaded, build id, Redis reachable",
    responses={503: {"description": "Not ready: no readable snapshot, or Redis unreachable"}},
)
def readyz(request: Request) -> JSONResponse:
    """200 when the published snapshot can be read (its build id and age are reported) and the
    configured Redis answers; 503 with the reason otherwise."""
    state = request.app.state
    body: dict[str, Any] = {"status": "ready"}
    ready = True
    try:
        snapshot = read_snapshot(state.settings.serving_duckdb_path)
        body["snapshot"] = {
            "build_id": snapshot.build_id,
            "published_at": snapshot.published_at.isoformat(),
            "tables": len(snapshot.tables),
        }
    except SnapshotError as exc:
        ready = False
        body["snapshot"] = {"error": str(exc)}
    if state.settings.redis_url:
        try:
            client = redis.Redis.from_url(state.settings.redis_url, socket_timeout=0.5)
            client.ping()
            body["redis"] = "reachable"
        except redis.RedisError as exc:
            ready = False
            body["redis"] = f"unreachable: {type(exc).__name__}"
    else:
        body["redis"] = "not configured (embedded defaults)"
    if not ready:
        body["status"] = "not ready"
    return JSONResponse(body, status_code=200 if ready else 503)
