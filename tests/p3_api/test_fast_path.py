"""Repeated requests answered before routing (``p3_api.fast_path``): the same bytes, ETag and
headers as the full path, and the same access check — credentials, roles and rate limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from p3_api.app import create_app
from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from p3_api.config import ApiSettings
from tests.dbt.conftest import explicit_settings
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi
from .test_metrics import samples

SPEC = {"entity": "constructor", "metrics": ["wins"], "limit": 3, "order_by": ["-wins"]}
BODY = json.dumps(SPEC).encode()


async def _calls(
    app, requests: list[tuple[str, str, bytes, dict[str, str]]]
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://p3") as client:
        return [
            await client.request(method, path, content=body, headers=headers)
            for method, path, body, headers in requests
        ]


def test_a_repeated_request_is_answered_before_routing_and_still_checked(
    tmp_path: Path, snapshot: PublishedSnapshot
) -> None:
    settings = explicit_settings(tmp_path, serving_duckdb_path=snapshot.path)
    store = SqliteStore(settings.home / "api" / "keys.sqlite3")
    _, analyst = store.create("api_key", "analyst", Role.analyst)
    _, viewer = store.create("api_key", "viewer", Role.viewer)
    app = create_app(settings, ApiSettings(rate_limits_enabled=False))
    json_type = {"Content-Type": "application/json"}
    (first,) = asyncio.run(
        _calls(app, [("POST", "/v1/query", BODY, json_type | {"X-API-Key": analyst})])
    )
    assert first.status_code == 200, first.text

    # With every route gone, only an answer served before routing can still be a 200.
    app.router.routes.clear()
    again, respaced, anonymous, too_low = asyncio.run(
        _calls(
            app,
            [
                ("POST", "/v1/query", BODY, json_type | {"X-API-Key": analyst}),
                # The same question written differently is not the same arrival: full path.
                (
                    "POST",
                    "/v1/query",
                    json.dumps(SPEC, indent=1).encode(),
                    json_type | {"X-API-Key": analyst},
                ),
                ("POST", "/v1/query", BODY, json_type),
                ("POST", "/v1/query", BODY, json_type | {"X-API-Key": viewer}),
            ],
        )
    )
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-p3-build"] == first.headers["x-p3-build"]
    assert respaced.status_code == 404  # routed, and there are no routes
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert too_low.status_code == 403 and "analyst" in too_low.json()["detail"]


def test_an_invalid_body_is_never_answered_from_the_cache(
    tmp_path: Path, snapshot: PublishedSnapshot
) -> None:
    settings = explicit_settings(tmp_path, serving_duckdb_path=snapshot.path)
    _, analyst = SqliteStore(settings.home / "api" / "keys.sqlite3").create(
        "api_key", "analyst", Role.analyst
    )
    app = create_app(settings, ApiSettings(rate_limits_enabled=False))
    bad = json.dumps({"entity": "driver", "metrics": ["no_such_metric"]}).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": analyst}
    answers = asyncio.run(_calls(app, [("POST", "/v1/query", bad, headers)] * 2))
    assert [a.status_code for a in answers] == [422, 422]
    assert len(app.state.snapshot.responses) == 0


def test_rate_limits_and_revalidation_hold_for_answers_served_before_routing(
    start_api: StartApi, snapshot: PublishedSnapshot, redis_url: str
) -> None:
    server = start_api(snapshot.path, P3_API_RATE_ANALYST="4/minute", P3_REDIS_URL=redis_url)
    _, analyst = SqliteStore(server.log.parent / "home" / "api" / "keys.sqlite3").create(
        "api_key", "limited", Role.analyst
    )
    with server.client(headers={"X-API-Key": analyst}) as client:
        answers = [
            client.post("/v1/query", content=BODY, headers={"Content-Type": "application/json"})
            for _ in range(3)
        ]
        revalidated = client.post(
            "/v1/query",
            content=BODY,
            headers={
                "Content-Type": "application/json",
                "If-None-Match": answers[0].headers["etag"],
            },
        )
        refused = client.post(
            "/v1/query", content=BODY, headers={"Content-Type": "application/json"}
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["3", "2", "1"]
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["ratelimit-remaining"] == "0"
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    # Served before routing or not, each answer is counted under its route.
    with server.client() as client:
        metrics = client.get("/metrics").text
    counted = [
        value
        for labels, value in samples(metrics, "p3_api_requests_total")
        if labels["route"] == "/v1/query" and labels["method"] == "POST"
    ]
    assert sum(counted) == 5


def test_an_ergast_question_is_answered_before_routing_once_its_rows_are_in_memory(
    tmp_path: Path, snapshot: PublishedSnapshot
) -> None:
    settings = explicit_settings(tmp_path, serving_duckdb_path=snapshot.path)
    app = create_app(settings, ApiSettings(rate_limits_enabled=False))
    reference = create_app(settings, ApiSettings(rate_limits_enabled=False))
    results = "/ergast/f1/current/last/results.json"
    (first,) = asyncio.run(_calls(app, [("GET", f"{results}?limit=3", b"", {})]))
    assert first.status_code == 200, first.text  # routed: the route reads the results

    # With every route gone, only an answer made before routing can still be a 200.
    app.router.routes.clear()
    asked = [
        f"{results}?limit=3&offset=3",  # a new page of rows in memory: answered
        f"{results}?offset=1&limit=2",
        f"{results}?limit=3&limit=4",  # the route decides which limit counts: routed
        f"{results}?limit=3&extra=1",  # a parameter the route would ignore: routed
        f"{results}?limit=-1",  # the route's validation answers: routed
        "/ergast/f1/current/last/laps.json",  # lap times not read yet: routed
        "/ergast/f1/current/last/nonsense",  # outside the grammar: routed (404 either way)
    ]
    answers = asyncio.run(_calls(app, [("GET", url, b"", {}) for url in asked]))
    routed = asyncio.run(_calls(reference, [("GET", url, b"", {}) for url in asked[:2]]))
    assert [a.status_code for a in answers] == [200, 200, 404, 404, 404, 404, 404]
    for ours, theirs in zip(answers, routed, strict=False):
        assert ours.content == theirs.content
        assert json.loads(ours.content)["MRData"]["RaceTable"]["Races"][0]["Results"]
        for header in ("etag", "x-p3-build", "cache-control", "content-type"):
            assert ours.headers[header] == theirs.headers[header], header


def test_an_ergast_answer_made_before_routing_is_counted_once_against_the_limit(
    tmp_path: Path, snapshot: PublishedSnapshot
) -> None:
    settings = explicit_settings(tmp_path, serving_duckdb_path=snapshot.path)
    app = create_app(settings, ApiSettings(rate_anonymous="4/minute"))
    season = "/ergast/f1/current/results.json"
    answers = asyncio.run(
        _calls(app, [("GET", f"{season}?limit={n}", b"", {}) for n in (1, 2, 3, 4, 5)])
    )
    # The first is routed (the route reads the rows), the rest are made before routing.
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:4]] == ["3", "2", "1", "0"]
    assert answers[4].headers["content-type"] == "application/problem+json"
