"""``POST /v1/query`` and ``POST /v1/query/explain``: the query spec of ``p3 query`` over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.concurrency import run_in_threadpool

from p3_common.snapshot import SnapshotError
from p3_query.formats import render
from p3_query.spec import QuerySpec, SpecError

from ..metrics import CACHE
from ..problems import Problem
from ..response_cache import Entry, request_key, respond

router = APIRouter(prefix="/v1", tags=["query"])

# Accept media type -> p3_query output format; JSON when nothing matches.
MEDIA_TYPES = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "text/markdown": "markdown",
}
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
    "markdown": "text/markdown; charset=utf-8",
}

EXAMPLE_SPEC = {
    "entity": "driver",
    "ids": ["hamilton", "verstappen"],
    "seasons": "2019-2023",
    "metrics": ["wins", "podiums", "points"],
    "group_by": ["season", "entity"],
}


def negotiate(accept: str | None) -> str:
    """The output format for an ``Accept`` header (first listed type we can produce)."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in MEDIA_TYPES:
            return MEDIA_TYPES[media]
    return "json"


SpecBody = Annotated[QuerySpec, Body(openapi_examples={"driver_seasons": {"value": EXAMPLE_SPEC}})]


@router.post(
    "/query",
    summary="Answer a query spec",
    response_description="The result as JSON, CSV, Parquet, Arrow or Markdown, by Accept",
    responses={422: {"description": "Invalid spec (the problem names the field)"}},
)
async def query(
    request: Request,
    spec: SpecBody,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[
        str | None, Header(description="An ETag of an earlier answer: 304 if unchanged.")
    ] = None,
) -> Response:
    """Answer ``spec`` (the same document ``p3 query`` takes; see docs/query-spec.md) on the
    published snapshot. The representation follows ``Accept``: ``application/json`` (default),
    ``text/csv``, ``application/vnd.apache.parquet``, ``application/vnd.apache.arrow.stream``,
    ``text/markdown``. The answer's build is in ``X-P3-Build``; its ``ETag`` (build and question)
    answers a repeated request with ``If-None-Match`` by ``304 Not Modified``."""
    fmt = negotiate(accept)
    service = request.app.state.snapshot

    def produce() -> Entry:
        try:
            answer = service.cached_engine.execute_with_info(spec)
            body = render(answer.result, fmt)
        except SpecError as exc:
            raise Problem(422, str(exc)) from None
        except SnapshotError as exc:
            raise Problem(503, str(exc)) from None
        CACHE.labels("l2", "hit" if answer.cache.hit else "miss").inc()
        return Entry(answer.result.build_id, body, CONTENT_TYPES[fmt])

    return await respond(
        request, request_key("POST /v1/query", spec.canonical_json(), fmt), produce
    )


@router.post(
    "/query/explain",
    summary="Explain how a query spec would be answered",
    responses={422: {"description": "Invalid spec (the problem names the field)"}},
)
async def explain(request: Request, spec: SpecBody) -> dict[str, Any]:
    """The plan: which mart answers each metric, the estimated cost, and the SQL (values bound)."""
    engine = request.app.state.snapshot.engine
    try:
        plan = await run_in_threadpool(engine.explain, spec)
    except SpecError as exc:
        raise Problem(422, str(exc)) from None
    except SnapshotError as exc:
        raise Problem(503, str(exc)) from None
    return plan.explain()
