"""Live mode: poll an Ergast-compatible API (Jolpica) for a race's new laps and pit stops, and its
result once published, within the API's rate limits, turning them into timing events.

Ergast publishes no retirements during a race; they (and the classification) come with the
results, after the flag.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from .events import (
    Classified,
    Entrant,
    Event,
    LapCompleted,
    PitStop,
    RaceFinish,
    RaceStart,
    Retirement,
)

log = logging.getLogger(__name__)
PAGE = 100  # Ergast's largest page
FINISHED = ("Finished", "+")  # statuses of drivers who took the flag ("+1 Lap", ...)


class Throttle:
    """At most ``per_second`` requests a second and ``per_hour`` an hour (Jolpica: 4 and 500);
    waits for a free slot rather than failing."""

    def __init__(
        self,
        per_second: float,
        per_hour: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self.per_hour = per_hour
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None
        self._hour: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            while self._hour and now - self._hour[0] >= 3600:
                self._hour.popleft()
            due = self._last + self.interval if self._last is not None else now
            if len(self._hour) >= self.per_hour:
                due = max(due, self._hour[0] + 3600)
            if due > now:
                self.sleep(due - now)
                now = due
            self._last = now
            self._hour.append(now)


class Retryable(Exception):
    """A 429, a 5xx or a transport error: worth another try after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    backoff = wait_exponential(multiplier=0.5, max=30)(state)
    if isinstance(error, Retryable) and error.retry_after is not None:
        return min(max(error.retry_after, backoff), 120.0)
    return backoff


class ErgastApi:
    """The few race resources live mode reads, from ``base_url`` (``.../ergast/f1``)."""

    def __init__(
        self,
        base_url: str,
        throttle: Throttle,
        *,
        timeout: float = 20.0,
        deadline_seconds: float = 120.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.throttle = throttle
        self.client = client or httpx.Client(timeout=timeout)
        self.requests = 0
        self.retried = 0  # 429s, 5xx and transport errors that were tried again
        self._get = retry(
            retry=retry_if_exception_type(Retryable),
            wait=_wait,
            stop=stop_after_delay(deadline_seconds),
            reraise=True,
        )(self._get_once)

    def close(self) -> None:
        self.client.close()

    def _get_once(self, path: str, offset: int) -> dict[str, Any]:
        self.throttle.wait()
        self.requests += 1
        url = f"{self.base_url}/{path}.json"
        try:
            response = self.client.get(url, params={"limit": PAGE, "offset": offset})
        except httpx.TransportError as exc:
            self.retried += 1
            raise Retryable(f"{url}: {exc}") from None
        if response.status_code == 429 or response.status_code >= 500:
            self.retried += 1
            after = response.headers.get("Retry-After")
            raise Retryable(
                f"{url}: HTTP {response.status_code}",
                float(after) if after and after.isdigit() else None,
            )
        response.raise_for_status()
        return response.json()["MRData"]

    def race_items(self, season: int, round: int, resource: str, key: str) -> list[dict[str, Any]]:
        """Every ``key`` item of the race's ``resource`` (paginated), or [] before any exist."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self._get(f"{season}/{round}/{resource}", offset)
            races = data["RaceTable"]["Races"]
            page = [item for race in races for item in _items(race, key)]
            items.extend(page)
            offset += PAGE
            if offset >= int(data.get("total", 0)) or not page:
                return items


def _items(race: dict[str, Any], key: str) -> list[dict[str, Any]]:
    if key == "Timings":  # laps nest their timings: flatten with the lap number
        return [dict(t, lap=lap["number"]) for lap in race.get("Laps", []) for t in lap["Timings"]]
    items: list[dict[str, Any]] = race.get(key, [])
    return items


def lap_time_ms(text: str) -> int:
    """``"1:32.123"`` or ``"59.8"`` -> milliseconds."""
    minutes, _, seconds = text.rpartition(":")
    return round((int(minutes or 0) * 60 + float(seconds)) * 1000)


def fallback_driver_id(ref: str) -> int:
    """A stable negative id for a driver the snapshot does not know yet (a debutant)."""
    return -(zlib.crc32(ref.encode()) % 1_000_000_000) - 1


@dataclass
class Poller:
    """Turns what the API has for one race into events, each fact published once."""

    api: ErgastApi
    publish: Callable[[Event], object]
    season: int
    round: int
    total_laps: int
    driver_ids: dict[str, int] = field(default_factory=dict)
    started: bool = False
    finished: bool = False
    _laps: dict[int, dict[int, int]] = field(default_factory=dict)  # driver -> lap -> time
    _stops: set[tuple[int, int]] = field(default_factory=set)

    def driver(self, ref: str) -> int:
        if ref not in self.driver_ids:
            self.driver_ids[ref] = fallback_driver_id(ref)
        return self.driver_ids[ref]

    def poll(self) -> int:
        """One poll: the start (once an entry list exists), new laps and stops, and the finish
        once results are out. The number of events published."""
        events: list[Event] = []
        if not self.started:
            entrants = self._entrants()
            if not entrants:
                return 0
            events.append(
                RaceStart(
                    season=self.season,
                    round=self.round,
                    total_laps=self.total_laps,
                    drivers=entrants,
                )
            )
            self.started = True
        timings = self.api.race_items(self.season, self.round, "laps", "Timings")
        for timing in sorted(timings, key=lambda t: (int(t["lap"]), int(t["position"]))):
            driver_id, lap = self.driver(timing["driverId"]), int(timing["lap"])
            laps = self._laps.setdefault(driver_id, {})
            if lap in laps or (lap > 1 and lap - 1 not in laps):
                continue  # published already, or an earlier lap of this driver is not out yet
            laps[lap] = lap_time_ms(timing["time"])
            elapsed = sum(laps.values())
            events.append(
                LapCompleted(
                    season=self.season,
                    round=self.round,
                    driver_id=driver_id,
                    lap=lap,
                    lap_time_ms=laps[lap],
                    position=int(timing["position"]),
                    elapsed_ms=elapsed,
                )
            )
        for stop in self.api.race_items(self.season, self.round, "pitstops", "PitStops"):
            key = (self.driver(stop["driverId"]), int(stop["stop"]))
            if key in self._stops:
                continue
            self._stops.add(key)
            duration = stop.get("duration")
            events.append(
                PitStop(
                    season=self.season,
                    round=self.round,
                    driver_id=key[0],
                    lap=int(stop["lap"]),
                    stop=key[1],
                    duration_ms=_duration_ms(duration),
                )
            )
        results = self.api.race_items(self.season, self.round, "results", "Results")
        if results:
            events.extend(self._finish(results))
        for event in events:
            self.publish(event)
        return len(events)

    def _entrants(self) -> list[Entrant]:
        rows = self.api.race_items(self.season, self.round, "results", "Results")
        rows = rows or self.api.race_items(
            self.season, self.round, "qualifying", "QualifyingResults"
        )
        return [
            Entrant(
                driver_id=self.driver(row["Driver"]["driverId"]),
                code=row["Driver"].get("code"),
                name=f"{row['Driver']['givenName']} {row['Driver']['familyName']}",
                constructor=row["Constructor"]["name"],
                grid=int(row.get("grid") or row.get("position") or 0),
            )
            for row in rows
        ]

    def _finish(self, results: list[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        classification = []
        for row in sorted(results, key=lambda r: int(r["position"])):
            driver_id = self.driver(row["Driver"]["driverId"])
            status, laps = row["status"], int(row["laps"])
            if not status.startswith(FINISHED):
                events.append(
                    Retirement(
                        season=self.season,
                        round=self.round,
                        driver_id=driver_id,
                        lap=laps,
                        status=status,
                    )
                )
            classification.append(
                Classified(
                    driver_id=driver_id, position_text=row["positionText"], status=status, laps=laps
                )
            )
        events.append(
            RaceFinish(season=self.season, round=self.round, classification=classification)
        )
        self.finished = True
        return events

    def run(self, interval_seconds: float, stop: threading.Event | None = None) -> None:
        """Poll every ``interval_seconds`` until the results are out (or ``stop`` is set)."""
        stop = stop or threading.Event()
        while not self.finished and not stop.is_set():
            published = self.poll()
            log.info("%s round %s: %d new events", self.season, self.round, published)
            if not self.finished:
                stop.wait(interval_seconds)


def _duration_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return lap_time_ms(text)
    except ValueError:
        log.warning("pit-stop duration %r is not a time; left empty", text)
        return None
