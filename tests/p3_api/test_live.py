"""The /v1/live routes on a real server over a real Redis: the state, the server-sent events
(resumable with Last-Event-ID), their access rule and their problems."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from p3_api.examples import EXAMPLES
from p3_live.enrichment import leaderboard_enrichment
from p3_live.processor import Processor
from p3_live.replay import TimedEvent, load_race, replay
from p3_live.state import view
from p3_live.streams import Publisher, Race, connect
from tests.fixtures.servers import MACHINE_REDIS
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import ApiServer, StartApi
from .test_openapi_examples import same_shape


@pytest.fixture
def live_prefix() -> Iterator[str]:
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {MACHINE_REDIS}")
    name = f"p3test:live:{uuid.uuid4().hex[:12]}"
    yield name
    client = connect(MACHINE_REDIS)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def live_api(start_api: StartApi, snapshot: PublishedSnapshot, live_prefix: str) -> ApiServer:
    return start_api(
        snapshot.path, workers=1, P3_LIVE_REDIS_URL=MACHINE_REDIS, P3_LIVE_KEY_PREFIX=live_prefix
    )


@pytest.fixture(scope="module")
def race_events(snapshot: PublishedSnapshot) -> tuple[int, int, list[TimedEvent]]:
    season, round = snapshot.query(
        "select season, round from marts.fct_lap_times order by season desc, round desc limit 1"
    )[0]
    return season, round, load_race(snapshot.path, season, round)


def read_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next ``count`` server-sent events from a response's ``lines`` (pings skipped)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    return events


def test_the_state_route_serves_the_processors_latest_state(
    live_api: ApiServer, live_prefix: str, race_events: tuple[int, int, list[TimedEvent]]
) -> None:
    season, round, events = race_events
    with live_api.client() as client:
        missing = client.get(f"/v1/live/races/{season}/{round}")
        assert missing.status_code == 404
        assert "p3 live replay" in missing.json()["detail"]
        assert (
            client.get(f"/v1/live/races/{season}/{round}", headers={"X-API-Key": ""}).status_code
            == 401
        )
        redis_client = connect(MACHINE_REDIS)
        race = Race(live_prefix, season, round)
        replay(events[:40], Publisher(redis_client, race, maxlen=10_000), speed=None)
        # The processor as `p3 live process --no-model` runs it: lap anomalies are added.
        processor = Processor(
            redis_client, live_prefix, "api-test", enrich=leaderboard_enrichment(with_model=False)
        )
        while processor.step([race]):
            pass
        served = client.get(f"/v1/live/races/{season}/{round}")
        assert served.status_code == 200
        assert served.headers["cache-control"] == "no-store"
        assert served.json() == json.loads(redis_client.get(race.view))
        assert served.json()["events_applied"] == 40
        # The documented examples (p3_api.examples) have the shape of these answers.
        # (The example shows the in-race model's win and podium probabilities, which a
        # processor run with --no-model leaves out; test_probabilities checks them.)
        state_example = copy.deepcopy(EXAMPLES[("GET", "/v1/live/races/{season}/{round}")].value)
        for row in state_example["rows"]:
            del row["win_prob"], row["podium_prob"]
        assert same_shape(state_example, served.json()) == []
        races_example = EXAMPLES[("GET", "/v1/live/races")].value
        assert same_shape(races_example, client.get("/v1/live/races").json()) == []
        listed = client.get("/v1/live/races").json()["races"]
        assert listed == [
            {"season": season, "round": round, "status": "running", "lap": served.json()["lap"],
             "total_laps": served.json()["total_laps"]}
        ]  # fmt: skip


def test_events_stream_every_new_state_and_resume_after_the_last_event_id(
    live_api: ApiServer, live_prefix: str, race_events: tuple[int, int, list[TimedEvent]]
) -> None:
    season, round, events = race_events
    redis_client = connect(MACHINE_REDIS)
    race = Race(live_prefix, season, round)
    publish = Publisher(redis_client, race, maxlen=10_000)
    processor = Processor(redis_client, live_prefix, "api-test")
    replay(events[:10], publish, speed=None)
    while processor.step([race]):
        pass
    url = f"/v1/live/races/{season}/{round}/events"
    with live_api.client() as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = read_events(lines, 1)[0]
        # The latest state comes first...
        assert first["event"] == "state"
        assert json.loads(first["data"])["events_applied"] == 10
        # ...then each state a processor publishes, in order, with its stream entry id.
        replay(events[10:30], publish, speed=None)
        while processor.step([race]):
            pass
        streamed = read_events(lines, 20)
    published = redis_client.xrange(race.states, min=f"({first['id']}")
    assert [e["id"] for e in streamed] == [entry_id for entry_id, _ in published]
    assert [json.loads(e["data"])["events_applied"] for e in streamed] == list(range(11, 31))
    # A reconnecting client gets exactly the states after its last event id.
    resume_from = streamed[4]["id"]
    with live_api.client() as client:
        with client.stream("GET", url, headers={"Last-Event-ID": resume_from}) as response:
            resumed = read_events(response.iter_lines(), 15)
    assert [e["id"] for e in resumed] == [e["id"] for e in streamed[5:]]
    assert json.loads(resumed[-1]["data"]) == view(processor._cache[race][1])


def test_the_events_route_refuses_a_bad_last_event_id_and_an_unknown_race(
    live_api: ApiServer,
) -> None:
    with live_api.client() as client:
        bad = client.get("/v1/live/races/2019/20/events", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 400
        assert bad.json()["detail"] == "Last-Event-ID 'yesterday' is not an event id of this stream"
        unknown = client.get("/v1/live/races/2019/20/events")
        assert unknown.status_code == 404
        assert (
            client.get("/v1/live/races/2019/20/events", headers={"X-API-Key": ""}).status_code
            == 401
        )


def test_live_routes_without_redis_answer_404_naming_the_setting(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(snapshot.path, workers=1)
    with server.client() as client:
        answer = client.get("/v1/live/races/2019/20")
    assert answer.status_code == 404
    assert answer.json()["detail"].startswith(
        "no live races on this server: live mode needs Redis: set P3_LIVE_REDIS_URL"
    )


def test_live_routes_answer_503_while_their_redis_is_down(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    from tests.fixtures.servers import free_port

    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server = start_api(snapshot.path, workers=1, P3_LIVE_REDIS_URL=down)
    with server.client() as client:
        answer = client.get("/v1/live/races/2019/20")
        events = client.get("/v1/live/races/2019/20/events")
    assert answer.status_code == 503 and events.status_code == 503
    assert answer.json()["detail"].startswith("the live races' Redis is unreachable")
