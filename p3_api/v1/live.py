"""``/v1/live``: live race states from the stream processors, as JSON and as server-sent events
(resumable: every event's id is its entry id in the race's state stream)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any, TypeVar

import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Path, Request, Response
from sse_starlette import EventSourceResponse

from p3_live.config import LiveNotConfigured, LiveSettings, redis_url
from p3_live.fanout import ENTRY_ID, SlowSubscriber, StateFeed
from p3_live.streams import Race, races_key

from ..problems import Problem

router = APIRouter(prefix="/v1/live", tags=["live"])

Season = Annotated[int, Path(ge=1950, le=2100)]
Round = Annotated[int, Path(ge=1, le=99)]
PING_SECONDS = 15
T = TypeVar("T")


def _feed(request: Request) -> tuple[StateFeed, LiveSettings]:
    state = request.app.state
    feed: StateFeed | None = getattr(state, "live_feed", None)
    if feed is None:
        live = LiveSettings()
        try:
            url = redis_url(state.settings, live)
        except LiveNotConfigured as exc:
            # Not a fault of this server: live races are simply not part of this deployment.
            raise Problem(404, f"no live races on this server: {exc}") from None
        feed = StateFeed(aioredis.Redis.from_url(url, decode_responses=True))
        state.live_feed, state.live_settings = feed, live
    return feed, state.live_settings


async def _redis(read: Awaitable[T]) -> T:
    """``read``, or a 503 problem when the live Redis does not answer."""
    try:
        return await read
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise Problem(503, f"the live races' Redis is unreachable ({exc})") from None


def _missing(season: int, round: int) -> Problem:
    return Problem(
        404,
        f"no live state for {season} round {round}: publish its events (`p3 live replay "
        f"{season} {round}` or the poller) and run a processor (`p3 live process`)",
    )


@router.get("/races", summary="Races with a live event stream and their status")
async def live_races(request: Request) -> dict[str, Any]:
    """Every race with a live event stream: season, round, status and lap of its latest state."""
    feed, live = _feed(request)
    races = []
    for race in await _redis(_known(feed, live.key_prefix)):
        latest = await _redis(feed.latest(race))
        board = json.loads(latest) if latest else {}
        races.append(
            {
                "season": race.season,
                "round": race.round,
                "status": board.get("status", "not_started"),
                "lap": board.get("lap", 0),
                "total_laps": board.get("total_laps"),
            }
        )
    return {"races": races}


async def _known(feed: StateFeed, prefix: str) -> list[Race]:
    members: Any = await feed.client.smembers(races_key(prefix))
    races = [Race(prefix, *map(int, str(m).split(":"))) for m in members]
    return sorted(races, key=lambda r: (r.season, r.round))


@router.get("/races/{season}/{round}", summary="The live state of a race")
async def live_race(season: Season, round: Round, request: Request) -> Response:
    """The latest leaderboard of the race: status, lap, laps remaining, fastest lap and per driver
    position, gap to the leader, interval, last and best lap, pit stops, retirement and (when the
    in-race model is loaded) win and podium probabilities."""
    feed, live = _feed(request)
    latest = await _redis(feed.latest(Race(live.key_prefix, season, round)))
    if latest is None:
        raise _missing(season, round)
    return Response(latest, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get(
    "/races/{season}/{round}/events",
    summary="The live state of a race as server-sent events",
    response_class=EventSourceResponse,
)
async def live_race_events(
    season: Season,
    round: Round,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """A ``state`` event with the full leaderboard each time it changes, first the latest one.
    Each event's id is its entry in the race's state stream: reconnect with ``Last-Event-ID`` to
    get every state after it, none missed. A reader too slow to keep up is disconnected (and
    resumes the same way)."""
    feed, live = _feed(request)
    if last_event_id is not None and not ENTRY_ID.match(last_event_id):
        raise Problem(
            400, f"Last-Event-ID {last_event_id[:40]!r} is not an event id of this stream"
        )
    race = Race(live.key_prefix, season, round)
    if last_event_id is None and await _redis(feed.latest(race)) is None:
        raise _missing(season, round)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for entry_id, state in feed.subscribe(race, last_event_id):
                yield feed.frame(entry_id, state)
        except SlowSubscriber:
            return

    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})
