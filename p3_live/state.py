"""The live race state as a pure reducer (event + state -> state) and the leaderboard view of it.

Every fact is keyed by what makes it unique — a lap by (driver, lap), a stop by (driver, stop) —
and the first report of a fact wins, so an event delivered twice (a processor killed before its
acknowledgement, a replay retrying an XADD) changes nothing, and no lap counts twice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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

Status = Literal["not_started", "running", "finished"]


class EventRejected(ValueError):
    """A well-formed event that does not fit the race (unknown driver, before the start, ...)."""


class Lap(BaseModel):
    """One completed lap of one driver."""

    model_config = ConfigDict(frozen=True)

    time_ms: int
    position: int
    elapsed_ms: int


class Driver(BaseModel):
    """What the state knows of one driver."""

    model_config = ConfigDict(frozen=True)

    entrant: Entrant
    laps: dict[int, Lap] = Field(default_factory=dict)
    pits: dict[int, PitStop] = Field(default_factory=dict)
    retired: Retirement | None = None

    @property
    def laps_completed(self) -> int:
        return max(self.laps, default=0)


class FastestLap(BaseModel):
    """The race's fastest lap so far."""

    model_config = ConfigDict(frozen=True)

    driver_id: int
    lap: int
    time_ms: int


class RaceState(BaseModel):
    """Everything known about one race, built only from its events."""

    model_config = ConfigDict(frozen=True)

    season: int
    round: int
    status: Status = "not_started"
    total_laps: int | None = None
    drivers: dict[int, Driver] = Field(default_factory=dict)
    fastest_lap: FastestLap | None = None
    classification: list[Classified] | None = None
    events_applied: int = 0

    @classmethod
    def empty(cls, season: int, round: int) -> RaceState:
        return cls(season=season, round=round)


def reduce(state: RaceState, event: Event) -> RaceState:
    """The state after ``event``: ``state`` itself when the event adds nothing (a duplicate).

    Raises ``EventRejected`` when the event does not belong to this race's state.
    """
    if (event.season, event.round) != (state.season, state.round):
        raise EventRejected(
            f"event of {event.season}/{event.round} on the stream of {state.season}/{state.round}"
        )
    if isinstance(event, RaceStart):
        changed = _start(state, event)
    elif state.status == "not_started":
        raise EventRejected(f"{event.type} event before the race_start event")
    elif isinstance(event, LapCompleted):
        changed = _lap(state, event)
    elif isinstance(event, PitStop):
        changed = _pit(state, event)
    elif isinstance(event, Retirement):
        changed = _retirement(state, event)
    else:
        changed = _finish(state, event)
    if changed is state:
        return state
    return changed.model_copy(update={"events_applied": state.events_applied + 1})


def _start(state: RaceState, event: RaceStart) -> RaceState:
    if state.status != "not_started":
        return state
    drivers = {e.driver_id: Driver(entrant=e) for e in event.drivers}
    if len(drivers) != len(event.drivers):
        raise EventRejected("race_start lists a driver twice")
    return state.model_copy(
        update={"status": "running", "total_laps": event.total_laps, "drivers": drivers}
    )


def _driver(state: RaceState, driver_id: int, kind: str) -> Driver:
    driver = state.drivers.get(driver_id)
    if driver is None:
        raise EventRejected(f"{kind} event for driver {driver_id}, who is not on the entry list")
    return driver


def _with_driver(state: RaceState, driver: Driver, **update: Any) -> RaceState:
    drivers = dict(state.drivers)
    drivers[driver.entrant.driver_id] = driver
    return state.model_copy(update={"drivers": drivers, **update})


def _lap(state: RaceState, event: LapCompleted) -> RaceState:
    driver = _driver(state, event.driver_id, "lap")
    if event.lap in driver.laps:
        return state
    lap = Lap(time_ms=event.lap_time_ms, position=event.position, elapsed_ms=event.elapsed_ms)
    laps = dict(driver.laps)
    laps[event.lap] = lap
    update: dict[str, Any] = {}
    best = state.fastest_lap
    # Ties go to the earlier lap, then the lower driver id: the same winner in any event order.
    candidate = (event.lap_time_ms, event.lap, event.driver_id)
    if best is None or candidate < (best.time_ms, best.lap, best.driver_id):
        update["fastest_lap"] = FastestLap(
            driver_id=event.driver_id, lap=event.lap, time_ms=event.lap_time_ms
        )
    return _with_driver(state, driver.model_copy(update={"laps": laps}), **update)


def _pit(state: RaceState, event: PitStop) -> RaceState:
    driver = _driver(state, event.driver_id, "pit")
    if event.stop in driver.pits:
        return state
    pits = dict(driver.pits)
    pits[event.stop] = event
    return _with_driver(state, driver.model_copy(update={"pits": pits}))


def _retirement(state: RaceState, event: Retirement) -> RaceState:
    driver = _driver(state, event.driver_id, "retirement")
    if driver.retired is not None:
        return state
    return _with_driver(state, driver.model_copy(update={"retired": event}))


def _finish(state: RaceState, event: RaceFinish) -> RaceState:
    if state.status == "finished":
        return state
    unknown = [c.driver_id for c in event.classification if c.driver_id not in state.drivers]
    if unknown:
        raise EventRejected(f"race_finish classifies drivers not on the entry list: {unknown}")
    return state.model_copy(update={"status": "finished", "classification": event.classification})


# --- the leaderboard view -------------------------------------------------------------------


def order(state: RaceState) -> list[int]:
    """Driver ids in running order: the official classification once the race is finished;
    before, drivers on more laps first, then by their position when they last crossed the line
    (the grid before their first lap), retired drivers last by laps completed."""
    if state.classification is not None:
        classified = [c.driver_id for c in state.classification]
        return classified + [d for d in state.drivers if d not in set(classified)]

    def key(driver: Driver) -> tuple[int, int, int, int]:
        done = driver.laps_completed
        position = driver.laps[done].position if done else _grid_slot(driver.entrant.grid)
        return (driver.retired is not None, -done, position, driver.entrant.driver_id)

    return [d.entrant.driver_id for d in sorted(state.drivers.values(), key=key)]


def _grid_slot(grid: int) -> int:
    return grid if grid > 0 else 10_000  # pit-lane starters behind the grid


def _gap(driver: Driver, ahead: Driver) -> tuple[int | None, int]:
    """(time behind ``ahead`` at the driver's latest lap, laps behind)."""
    done = driver.laps_completed
    if not done:
        return None, 0
    mine = driver.laps[done].elapsed_ms
    theirs = ahead.laps.get(done)
    laps_down = sum(
        1 for lap, record in ahead.laps.items() if lap > done and record.elapsed_ms <= mine
    )
    return (mine - theirs.elapsed_ms if theirs is not None else None), laps_down


def view(state: RaceState) -> dict[str, Any]:
    """The public leaderboard: race status, laps, fastest lap and one row per driver in order."""
    ids = order(state)
    leader = state.drivers[ids[0]] if ids else None
    lap = leader.laps_completed if leader else 0
    rows = []
    previous: Driver | None = None
    classification = {c.driver_id: c for c in state.classification or []}
    for index, driver_id in enumerate(ids, start=1):
        driver = state.drivers[driver_id]
        gap_ms, laps_down = _gap(driver, leader) if leader and index > 1 else (None, 0)
        interval_ms = _gap(driver, previous)[0] if previous is not None else None
        done = driver.laps_completed
        times = [record.time_ms for record in driver.laps.values()]
        final = classification.get(driver_id)
        rows.append(
            {
                "position": index,
                "driver_id": driver_id,
                "code": driver.entrant.code,
                "name": driver.entrant.name,
                "constructor": driver.entrant.constructor,
                "grid": driver.entrant.grid,
                "laps": done,
                "gap_ms": gap_ms,
                "laps_down": laps_down,
                "interval_ms": interval_ms,
                "last_lap_ms": driver.laps[done].time_ms if done else None,
                "best_lap_ms": min(times) if times else None,
                "pits": len(driver.pits),
                "retired": driver.retired is not None,
                "status": final.status
                if final
                else (driver.retired.status if driver.retired else "running"),
                "position_text": final.position_text if final else str(index),
            }
        )
        previous = driver
    total = state.total_laps
    return {
        "season": state.season,
        "round": state.round,
        "status": state.status,
        "lap": lap,
        "total_laps": total,
        "laps_remaining": max(total - lap, 0) if total is not None else None,
        "fastest_lap": state.fastest_lap.model_dump() if state.fastest_lap else None,
        "events_applied": state.events_applied,
        "rows": rows,
    }
