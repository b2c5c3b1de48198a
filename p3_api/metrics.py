"""Prometheus metrics of the API, aggregated over every worker process.

``python -m p3_api`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before uvicorn starts
its workers, so each worker writes its samples there and ``/metrics`` (answered by any worker)
reads them all. Without it (tests in one process) the default registry serves.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _ProcessId:
    """This process's pid, read once and again after a fork. prometheus_client's multiprocess
    values ask for the pid on every update to notice a fork, and ``os.getpid()`` is a system call:
    with several updates per request it was 14% of a worker's time on cached answers (py-spy)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.pid = os.getpid()

    def __call__(self) -> int:
        return self.pid


if os.environ.get(MULTIPROC_ENV):
    # Before any metric below creates its value; labelled children are created later, also with it.
    values.ValueClass = values.MultiProcessValue(process_identifier=_ProcessId())

ROUTE = "p3.route"  # scope key: the route template of an answer served before routing (fast_path)

REQUESTS = Counter(
    "p3_api_requests_total",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "p3_api_request_seconds",
    "Time to answer a request, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CACHE = Counter(
    "p3_api_response_cache_total",
    "Response cache lookups by tier (l1, l2) and result (hit, miss).",
    ["tier", "result"],
)
SNAPSHOT_BUILD = Gauge(
    "p3_api_snapshot_build_info",
    "The published build this process serves (value 1).",
    ["build_id"],
    multiprocess_mode="livemax",
)
SNAPSHOT_PUBLISHED = Gauge(
    "p3_api_snapshot_published_timestamp_seconds",
    "When the served snapshot was published (Unix time); its age is time() minus this.",
    multiprocess_mode="livemax",
)

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Requests and latency by route and status, response-cache hits by tier, rate-limit
    rejections, authentication failures by reason, the served build and when it was published."""
    observe_snapshot(request)
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


_served: dict[str, str] = {}


def observe_build(build_id: str, published_at: datetime | None = None) -> None:
    """Record the build this process serves (called when a request reads a new build)."""
    previous = _served.get("build")
    if previous == build_id:
        return
    if previous is not None:
        SNAPSHOT_BUILD.labels(previous).set(0)
    SNAPSHOT_BUILD.labels(build_id).set(1)
    if published_at is not None:
        SNAPSHOT_PUBLISHED.set(published_at.astimezone(UTC).timestamp())
    _served["build"] = build_id


def observe_snapshot(request: Request) -> None:
    """Read the published snapshot's build and time into the gauges (best effort)."""
    from p3_common.snapshot import SnapshotError, read_snapshot

    try:
        snapshot = read_snapshot(request.app.state.settings.serving_duckdb_path)
    except SnapshotError:
        return
    observe_build(snapshot.build_id, snapshot.published_at)


class RequestMetrics:
    """Counts every response and times it, labelled by the matched route's template (so
    ``/ergast/f1/2023/results`` and ``/ergast/f1/2024/results`` share one series)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            template = scope.get(ROUTE) or getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            REQUESTS.labels(template, method, str(status)).inc()
            LATENCY.labels(template, method).observe(time.perf_counter() - started)
