"""The stream processor: a consumer in a Redis consumer group that folds each race's events into
its state, publishes every new state, and acknowledges each event in the same transaction.

Several processors can share a race: the state lives in Redis and each update is an optimistic
transaction (WATCH the state's version, write state + published view + XACK atomically, retry on conflict).
A processor that dies leaves its unacknowledged entries pending: restarted under the same name it
re-reads them, and any processor claims them (XAUTOCLAIM) once idle for ``claim_idle_ms``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

from .events import InvalidEvent, RaceFinish, decode
from .state import EventRejected, RaceState, reduce, view
from .streams import RETRYABLE, Race, finished_key, known_races

log = logging.getLogger(__name__)

Outcome = Literal["applied", "duplicate", "dead"]
Enrich = Callable[[RaceState, dict[str, Any]], dict[str, Any]]


def chain(*steps: Enrich) -> Enrich:
    """One enrich step that runs ``steps`` in order on each leaderboard."""

    def run(state: RaceState, board: dict[str, Any]) -> dict[str, Any]:
        for step in steps:
            board = step(state, board)
        return board

    return run


@dataclass
class Counts:
    """What a processor did, by outcome."""

    applied: int = 0
    duplicate: int = 0
    dead: int = 0
    reconnects: int = 0
    claimed: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class Processor:
    """One consumer of the live event streams."""

    client: redis.Redis
    prefix: str
    consumer: str
    group: str = "processors"
    claim_idle_ms: int = 30_000
    states_maxlen: int = 10_000
    batch: int = 100
    block_ms: int = 500
    reconnect_seconds: float = 60.0
    enrich: Enrich | None = None
    start_wait_seconds: float = 5.0
    counts: Counts = field(default_factory=Counts)
    _cache: dict[Race, tuple[int, RaceState]] = field(default_factory=dict)
    _groups: set[Race] = field(default_factory=set)
    _backlog_read: set[Race] = field(default_factory=set)

    # --- one entry ------------------------------------------------------------------------

    def handle(self, race: Race, entry_id: str, fields: dict[str, str]) -> Outcome:
        """Apply one stream entry to its race's state (or dead-letter it) and acknowledge it."""
        try:
            event = decode(fields)
        except InvalidEvent as exc:
            return self._dead_letter(race, entry_id, fields, str(exc))
        waited_since: float | None = None
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(race.version)
                    version = int(pipe.get(race.version) or 0)
                    state = self._load(race, version, pipe)
                    try:
                        new = reduce(state, event)
                    except EventRejected as exc:
                        pipe.unwatch()
                        # Processors sharing a race get its entries in different batches: an
                        # event may arrive before another processor has applied the start.
                        if state.status == "not_started":
                            waited_since = waited_since or time.monotonic()
                            if time.monotonic() - waited_since < self.start_wait_seconds:
                                time.sleep(0.02)
                                continue
                        return self._dead_letter(race, entry_id, fields, str(exc))
                    pipe.multi()
                    if new is state:
                        pipe.xack(race.events, self.group, entry_id)
                        pipe.execute()
                        return "duplicate"
                    published = self._view(new)
                    pipe.set(race.state, new.model_dump_json())
                    pipe.incr(race.version)
                    pipe.set(race.view, published)
                    pipe.xadd(
                        race.states,
                        {"state": published},
                        maxlen=self.states_maxlen,
                        approximate=True,
                    )
                    if isinstance(event, RaceFinish):
                        pipe.xadd(
                            finished_key(self.prefix),
                            {"season": str(race.season), "round": str(race.round)},
                            maxlen=10_000,
                            approximate=True,
                        )
                    pipe.xack(race.events, self.group, entry_id)
                    pipe.execute()
                    self._cache[race] = (version + 1, new)
                    return "applied"
                except redis.WatchError:
                    continue  # another processor changed the state first: read it again

    def _load(self, race: Race, version: int, client: redis.Redis) -> RaceState:
        # The version counter moves with every state write: an unchanged one means the state
        # this processor wrote last is still current, and the ~100 kB JSON need not be re-read.
        cached = self._cache.get(race)
        if cached is not None and cached[0] == version:
            return cached[1]
        raw = client.get(race.state)
        state = (
            RaceState.model_validate_json(raw)
            if raw is not None
            else RaceState.empty(race.season, race.round)
        )
        self._cache[race] = (version, state)
        return state

    def _view(self, state: RaceState) -> str:
        leaderboard = view(state)
        if self.enrich is not None:
            leaderboard = self.enrich(state, leaderboard)
        return json.dumps(leaderboard, separators=(",", ":"))

    def _dead_letter(
        self, race: Race, entry_id: str, fields: dict[str, str], reason: str
    ) -> Outcome:
        log.warning("dead-lettered %s entry %s: %s", race.events, entry_id, reason)
        with self.client.pipeline() as pipe:  # MULTI: moved and acknowledged together
            pipe.xadd(
                race.dead,
                {"reason": reason, "entry_id": entry_id, "fields": json.dumps(fields)},
                maxlen=10_000,
                approximate=True,
            )
            pipe.xack(race.events, self.group, entry_id)
            pipe.execute()
        return "dead"

    # --- reading the streams ------------------------------------------------------------------

    def ensure_group(self, race: Race) -> None:
        """Create the consumer group (and the stream) unless it exists; it reads from the start."""
        try:
            self.client.xgroup_create(race.events, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(race)

    def step(self, races: Iterable[Race]) -> int:
        """Handle one batch: this consumer's own pending entries first (after a restart), then
        entries idle in a dead consumer's list, then new ones. The number handled."""
        races = list(races)
        for race in races:
            if race not in self._groups:
                self.ensure_group(race)
        handled = 0
        for race in races:
            if race not in self._backlog_read:
                own = self._read(race, "0")  # this consumer's pending entries, after a restart
                if own == 0:
                    self._backlog_read.add(race)
                handled += own
            handled += self._claim(race)
        if handled:
            return handled
        streams: dict[Any, Any] = {race.events: ">" for race in races}
        if not streams:
            time.sleep(self.block_ms / 1000)
            return 0
        replies: Any = self.client.xreadgroup(
            self.group, self.consumer, streams, count=self.batch, block=self.block_ms
        )
        by_key = {race.events: race for race in races}
        for key, entries in replies or []:
            for entry_id, fields in entries:
                self.counts.add(self.handle(by_key[key], entry_id, fields))
                handled += 1
        return handled

    def _read(self, race: Race, start: str) -> int:
        replies: Any = self.client.xreadgroup(
            self.group, self.consumer, {race.events: start}, count=self.batch
        )
        handled = 0
        for _, entries in replies or []:
            for entry_id, fields in entries:
                if fields is None:  # trimmed away while pending: nothing left to apply
                    self.client.xack(race.events, self.group, entry_id)
                    continue
                self.counts.add(self.handle(race, entry_id, fields))
                handled += 1
        return handled

    def _claim(self, race: Race) -> int:
        _, entries, deleted = self.client.xautoclaim(
            race.events, self.group, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        for entry_id in deleted or []:
            self.client.xack(race.events, self.group, entry_id)
        for entry_id, fields in entries:
            self.counts.add(self.handle(race, entry_id, fields))
        self.counts.claimed += len(entries)
        return len(entries)

    # --- the loop -----------------------------------------------------------------------------

    def run(
        self,
        races: list[Race] | None = None,
        *,
        stop: threading.Event | None = None,
        until_finished: bool = False,
    ) -> Counts:
        """Process ``races`` (None: every race in the registry, re-read each round) until ``stop``
        is set or, with ``until_finished``, every race is finished and nothing is pending.

        A lost Redis is retried for ``reconnect_seconds``; a group lost with a restarted,
        non-persistent Redis is created again.
        """
        down_since: float | None = None
        while stop is None or not stop.is_set():
            try:
                current = races if races is not None else known_races(self.client, self.prefix)
                handled = self.step(current)
                down_since = None
            except RETRYABLE as exc:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since > self.reconnect_seconds:
                    raise
                self.counts.reconnects += 1
                # Entries read just before the connection dropped may be pending, unapplied.
                self._backlog_read.clear()
                log.warning("Redis unreachable (%s); retrying", exc)
                time.sleep(0.2)
                continue
            except redis.ResponseError as exc:
                # NOGROUP: Redis came back without our groups; UNBLOCKED: a stream we were
                # blocked on was deleted. Either way, create the groups again and go on.
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                self._groups.clear()
                self._backlog_read.clear()
                continue
            if until_finished and handled == 0 and current and self._all_finished(current):
                break
        return self.counts

    def _all_finished(self, races: list[Race]) -> bool:
        for race in races:
            state = self._load(race, int(self.client.get(race.version) or 0), self.client)
            if state.status != "finished":
                return False
        return True
