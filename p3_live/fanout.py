"""Published race states to many readers: one XREAD loop per race and process, fanned out to
every subscriber, who first gets what it missed (``Last-Event-ID``) or the latest state."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis

from .streams import Race

log = logging.getLogger(__name__)

ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
BACKLOG_PAGE = 500
FRAME_CACHE = 256  # encoded states kept per process (the latest ones, sent to every client)


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair (``"1700000000000-3"`` -> ``(1700000000000, 3)``)."""
    millis, sequence = entry_id.split("-")
    return int(millis), int(sequence)


class SlowSubscriber(Exception):
    """A subscriber fell more than its buffer behind; it should reconnect with Last-Event-ID."""


@dataclass(eq=False)
class _Subscriber:
    limit: int
    items: deque[tuple[str, str]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def push(self, item: tuple[str, str]) -> None:
        if len(self.items) >= self.limit:
            self.overflowed = True
        else:
            self.items.append(item)
        self.wake.set()


@dataclass(eq=False)
class _Tail:
    subscribers: set[_Subscriber] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class StateFeed:
    """The published states of live races for the subscribers of one process."""

    def __init__(self, client: aioredis.Redis, *, buffer: int = 1_000, block_ms: int = 5_000):
        self.client = client
        self.buffer = buffer
        self.block_ms = block_ms
        self._tails: dict[Race, _Tail] = {}
        self._frames: OrderedDict[str, bytes] = OrderedDict()

    def frame(self, entry_id: str, state: str) -> bytes:
        """The server-sent event of one state, encoded once per process however many clients
        receive it (the JSON is one line: ``json.dumps`` escapes newlines)."""
        encoded = self._frames.get(entry_id)
        if encoded is None:
            encoded = f"id: {entry_id}\nevent: state\ndata: {state}\n\n".encode()
            self._frames[entry_id] = encoded
            if len(self._frames) > FRAME_CACHE:
                self._frames.popitem(last=False)
        return encoded

    async def latest(self, race: Race) -> str | None:
        """The race's latest published state (JSON), or None."""
        value: Any = await self.client.get(race.view)
        return value

    async def subscribe(
        self, race: Race, last_event_id: str | None = None
    ) -> AsyncIterator[tuple[str, str]]:
        """``(entry id, state JSON)`` pairs: the states after ``last_event_id`` (else the latest
        one), then each new one as it is published. Raises ``SlowSubscriber`` when the reader
        lags more than ``buffer`` states."""
        subscriber = _Subscriber(self.buffer)
        tail = self._tails.get(race)
        if tail is None:
            tail = self._tails[race] = _Tail()
            tail.subscribers.add(subscriber)
            start = await self._last_id(race)
            tail.task = asyncio.create_task(self._follow(race, tail, start))
        else:
            tail.subscribers.add(subscriber)
        try:
            sent = (0, 0)
            # Registered before reading the backlog: nothing published meanwhile is missed, and
            # what arrives twice is skipped by its id.
            async for entry_id, state in self._backlog(race, last_event_id):
                yield entry_id, state
                sent = entry_key(entry_id)
            while True:
                while subscriber.items:
                    entry_id, state = subscriber.items.popleft()
                    if entry_key(entry_id) > sent:
                        yield entry_id, state
                        sent = entry_key(entry_id)
                if subscriber.overflowed:
                    raise SlowSubscriber(f"more than {self.buffer} states behind on {race.states}")
                subscriber.wake.clear()
                await subscriber.wake.wait()
        finally:
            tail.subscribers.discard(subscriber)
            if not tail.subscribers and self._tails.get(race) is tail:
                del self._tails[race]
                if tail.task is not None:
                    tail.task.cancel()

    async def _last_id(self, race: Race) -> str:
        newest: Any = await self.client.xrevrange(race.states, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def _backlog(
        self, race: Race, last_event_id: str | None
    ) -> AsyncIterator[tuple[str, str]]:
        if last_event_id is None:
            newest: Any = await self.client.xrevrange(race.states, count=1)
            for entry_id, fields in newest:
                yield str(entry_id), fields["state"]
            return
        start = f"({last_event_id}"
        while True:
            page: Any = await self.client.xrange(race.states, min=start, count=BACKLOG_PAGE)
            for entry_id, fields in page:
                yield str(entry_id), fields["state"]
            if len(page) < BACKLOG_PAGE:
                return
            start = f"({page[-1][0]}"

    async def _follow(self, race: Race, tail: _Tail, start: str) -> None:
        last = start
        while True:
            try:
                replies: Any = await self.client.xread(
                    {race.states: last}, block=self.block_ms, count=BACKLOG_PAGE
                )
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("reading %s failed (%s); retrying", race.states, exc)
                await asyncio.sleep(0.5)
                continue
            for _, entries in replies or []:
                for entry_id, fields in entries:
                    last = str(entry_id)
                    item = (last, fields["state"])
                    for subscriber in tail.subscribers:
                        subscriber.push(item)
