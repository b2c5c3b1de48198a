"""Requests answered before routing: the access check, then bytes already in memory.

The response cache (L1) holds each answer under its normalised key (``respond``) and also under
the request exactly as it arrived: method, path, query string, ``Accept``, and for a POST its
content type and body. A request that arrives again byte for byte is answered here, without
FastAPI's routing, body parsing or validation, the request having been valid the first time.
Only answers are remembered, so an invalid body always takes the full path (and its 422).

An Ergast GET is answered here too when the build's Ergast index holds what it asks
(``answer_before_routing``): its answer is tens of microseconds of work in
memory, less than routing it would cost. Anything the route must judge takes the route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .ergast.router import answer_before_routing
from .metrics import ROUTE
from .problems import Problem, problem_response
from .response_cache import ARRIVAL, etag, matches, request_key


def arrival_key(scope: Scope, headers: dict[bytes, bytes], body: bytes) -> str:
    """The request as it arrived (nothing normalised): method, path, query, negotiation, body."""
    return request_key(
        "ARRIVAL",
        scope["method"],
        scope["path"],
        scope.get("query_string", b""),
        headers.get(b"accept", b""),
        headers.get(b"content-type", b""),
        body,
    )


class CachedAnswers:
    """ASGI middleware: serve an L1 hit on the request's arrival key, else pass it on."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body = b""
        if scope["method"] == "POST":
            length = headers.get(b"content-length", b"")
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await self.app(scope, receive, send)  # chunked or too large: the full path
                return
            body, complete = await _read_body(receive)
            if not complete:
                return  # the client went away
            receive = _replay(body, receive)
        key = arrival_key(scope, headers, body)
        scope[ARRIVAL] = key
        state = scope["app"].state
        entry = state.snapshot.responses.get_arrival(key)
        if entry is None and scope["method"] == "GET":
            max_age = state.api.cache_max_age_seconds
            entry = answer_before_routing(scope, state.snapshot, max_age)
        if entry is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE] = entry.route
        client = scope.get("client")
        try:
            decision = await state.guard.check(
                scope["method"],
                entry.route,
                client[0] if client else "unknown",
                _text(headers.get(b"authorization")),
                _text(headers.get(b"x-api-key")),
            )
        except Problem as problem:
            response = problem_response(
                Request(scope),
                problem.status,
                problem.detail,
                title=problem.title,
                headers=problem.headers,
                **problem.extensions,
            )
            await response(scope, receive, send)
            return
        tag = etag(entry.build_id, entry.key)
        out = [
            (b"etag", tag.encode()),
            (b"x-p3-build", entry.build_id.encode()),
            (b"cache-control", entry.cache_control.encode()),
        ]
        if decision is not None:
            out += [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]
        if matches(_text(headers.get(b"if-none-match")), tag):
            await send({"type": "http.response.start", "status": 304, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return
        out += [
            (b"content-type", entry.media_type.encode()),
            (b"content-length", str(len(entry.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": entry.body})


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body on once, then waits on the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
