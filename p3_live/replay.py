"""A stored race as time-ordered timing events, and replaying them at a speed factor."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from p3_common.snapshot import open_snapshot

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


class RaceNotFound(LookupError):
    """The snapshot has no lap times for the requested race."""


@dataclass(frozen=True)
class TimedEvent:
    """An event and the race time (ms after the start) at which it happens."""

    at_ms: int
    event: Event


def load_race(snapshot: Path | str, season: int, round: int) -> list[TimedEvent]:
    """The events of ``season``/``round`` from the published snapshot at ``snapshot``, in time order."""
    with open_snapshot(snapshot) as con:
        return race_events(con, season, round)


def race_events(con: duckdb.DuckDBPyConnection, season: int, round: int) -> list[TimedEvent]:
    """Time-ordered events of a race from ``fct_lap_times``, ``fct_pit_stops`` and the results.

    A lap ends at the driver's summed lap times; a pit stop follows the lap it was made on; a
    retirement comes one lap-time after the driver's last lap; the finish, with the official
    classification, after the last lap of all.
    """
    results = con.execute(
        """
        select r.driver_id, d.driver_code, d.full_name, c.constructor_name, r.grid,
            r.position_text, r.status, r.laps, r.is_finished
        from marts.fct_race_results as r
        join marts.dim_drivers as d using (driver_id)
        join marts.dim_constructors as c using (constructor_id)
        where r.season = ? and r.round = ?
        order by r.position_order
        """,
        [season, round],
    ).fetchall()
    laps = con.execute(
        """
        select driver_id, lap, lap_time_ms, position
        from marts.fct_lap_times
        where season = ? and round = ? and lap_time_ms > 0
        order by driver_id, lap
        """,
        [season, round],
    ).fetchall()
    if not results or not laps:
        raise RaceNotFound(
            f"no {'results' if not results else 'lap times'} for {season} round {round} in the snapshot"
        )
    stops = con.execute(
        """
        select driver_id, stop, lap, duration_ms
        from marts.fct_pit_stops
        where season = ? and round = ?
        order by driver_id, stop
        """,
        [season, round],
    ).fetchall()
    return _timeline(season, round, results, laps, stops)


def _timeline(
    season: int, round: int, results: list[tuple], laps: list[tuple], stops: list[tuple]
) -> list[TimedEvent]:
    entrants = [
        Entrant(driver_id=d, code=code, name=name, constructor=team, grid=grid or 0)
        for d, code, name, team, grid, *_ in results
    ]
    total_laps = max(int(r[7]) for r in results)
    events = [
        TimedEvent(
            0, RaceStart(season=season, round=round, total_laps=total_laps, drivers=entrants)
        )
    ]
    lap_end: dict[tuple[int, int], int] = {}
    last: dict[int, tuple[int, int, int]] = {}  # driver -> (lap, elapsed, lap time)
    elapsed: dict[int, int] = {}
    for driver_id, lap, lap_time_ms, position in laps:
        elapsed[driver_id] = elapsed.get(driver_id, 0) + lap_time_ms
        at = elapsed[driver_id]
        lap_end[(driver_id, lap)] = at
        last[driver_id] = (lap, at, lap_time_ms)
        events.append(
            TimedEvent(
                at,
                LapCompleted(
                    season=season,
                    round=round,
                    driver_id=driver_id,
                    lap=lap,
                    lap_time_ms=lap_time_ms,
                    position=position,
                    elapsed_ms=at,
                ),
            )
        )
    for driver_id, stop, lap, duration_ms in stops:
        at = lap_end.get((driver_id, lap), 0) + 1
        events.append(
            TimedEvent(
                at,
                PitStop(
                    season=season,
                    round=round,
                    driver_id=driver_id,
                    lap=lap,
                    stop=stop,
                    duration_ms=duration_ms,
                ),
            )
        )
    first_lap = min((at for (_, lap), at in lap_end.items() if lap == 1), default=1)
    for driver_id, *_, status, _, finished in results:
        if finished:
            continue
        done, at, lap_time = last.get(driver_id, (0, 0, first_lap))
        events.append(
            TimedEvent(
                at + lap_time,
                Retirement(
                    season=season, round=round, driver_id=driver_id, lap=done, status=status
                ),
            )
        )
    finish_at = max(e.at_ms for e in events) + 1
    classification = [
        Classified(driver_id=d, position_text=text, status=status, laps=laps_done)
        for d, _, _, _, _, text, status, laps_done, _ in results
    ]
    finish = RaceFinish(season=season, round=round, classification=classification)
    events.append(TimedEvent(finish_at, finish))
    # Stable sort: the start first, and a pit stop right after the lap it ended.
    return sorted(events, key=lambda e: e.at_ms)


def replay(
    events: Iterable[TimedEvent],
    publish: Callable[[Event], object],
    *,
    speed: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Publish ``events`` at ``speed`` times real time (None: as fast as possible); the count."""
    started = clock()
    count = 0
    for timed in events:
        if speed:
            wait = started + timed.at_ms / 1000 / speed - clock()
            if wait > 0:
                sleep(wait)
        publish(timed.event)
        count += 1
    return count
