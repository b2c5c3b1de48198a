"""Redis keys and streams of the live races: one event stream per race, bounded, with a consumer
group, a dead-letter stream, the latest state and a stream of published states."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .events import Event, encode

T = TypeVar("T")
RETRYABLE = (redis.ConnectionError, redis.TimeoutError)


@dataclass(frozen=True)
class Race:
    """One race's keys under ``prefix``."""

    prefix: str
    season: int
    round: int

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.season}:{self.round}"

    @property
    def events(self) -> str:
        """The timing events (input)."""
        return f"{self.base}:events"

    @property
    def dead(self) -> str:
        """Entries that were not valid events, with the reason."""
        return f"{self.base}:dead"

    @property
    def state(self) -> str:
        """The processors' full state (JSON of ``RaceState``)."""
        return f"{self.base}:state"

    @property
    def version(self) -> str:
        """A counter incremented with every state write (what processors WATCH)."""
        return f"{self.base}:version"

    @property
    def view(self) -> str:
        """The latest published leaderboard (JSON)."""
        return f"{self.base}:view"

    @property
    def states(self) -> str:
        """Every published leaderboard, in order: what SSE clients read and resume from."""
        return f"{self.base}:states"

    @property
    def member(self) -> str:
        return f"{self.season}:{self.round}"


def _fields(fields: dict[str, str]) -> dict[Any, Any]:
    return dict(fields)  # redis-py's stubs want the wider key/value union


def races_key(prefix: str) -> str:
    """The set of races that have an event stream (``season:round``)."""
    return f"{prefix}:races"


def finished_key(prefix: str) -> str:
    """A stream with one entry per race whose finish a processor applied (the sensor reads it)."""
    return f"{prefix}:finished"


def finished_since(
    client: redis.Redis, prefix: str, cursor: str | None, *, count: int = 100
) -> list[tuple[str, int, int]]:
    """``(entry id, season, round)`` of races finished after entry ``cursor`` (None: all)."""
    start = f"({cursor}" if cursor else "-"
    entries: Any = client.xrange(finished_key(prefix), min=start, count=count)
    return [(str(i), int(f["season"]), int(f["round"])) for i, f in entries]


def known_races(client: redis.Redis, prefix: str) -> list[Race]:
    """Every race with an event stream."""
    members = client.smembers(races_key(prefix))
    races = []
    for member in members:
        season, round = str(member).split(":")
        races.append(Race(prefix, int(season), int(round)))
    return sorted(races, key=lambda r: (r.season, r.round))


def connect(url: str) -> redis.Redis:
    """A client that retries a dropped connection a few times on its own (short outages)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
        retry_on_error=list(RETRYABLE),
        socket_connect_timeout=2,
        health_check_interval=10,
    )


def persistent(
    action: Callable[[], T],
    *,
    deadline_seconds: float,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``action``, retrying while Redis is unreachable for up to ``deadline_seconds``
    (a restart takes a few seconds); then the last connection error propagates."""
    give_up = time.monotonic() + deadline_seconds
    pause = 0.05
    while True:
        try:
            return action()
        except RETRYABLE as exc:
            if time.monotonic() >= give_up:
                raise
            if on_retry is not None:
                on_retry(exc)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


class Publisher:
    """Appends a race's events to its bounded stream, riding out Redis restarts."""

    def __init__(
        self, client: redis.Redis, race: Race, *, maxlen: int, deadline_seconds: float = 60.0
    ) -> None:
        self.client = client
        self.race = race
        self.maxlen = maxlen
        self.deadline_seconds = deadline_seconds
        self.published = 0
        self._registered = False

    def __call__(self, event: Event) -> str:
        """XADD ``event``; its entry id. A retried XADD may duplicate an event: the reducer
        ignores facts it already has."""

        def add() -> str:
            if not self._registered:
                self.client.sadd(races_key(self.race.prefix), self.race.member)
                self._registered = True
            return str(
                self.client.xadd(
                    self.race.events, _fields(encode(event)), maxlen=self.maxlen, approximate=True
                )
            )

        def lost(_: BaseException) -> None:
            self._registered = False  # a restarted Redis without persistence forgot the set

        entry_id = persistent(add, deadline_seconds=self.deadline_seconds, on_retry=lost)
        self.published += 1
        return entry_id
