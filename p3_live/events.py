"""Typed timing events of one race, their JSON form on a Redis Stream, and why a malformed one is refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# A stream entry carries one field: the event as JSON.
FIELD = "event"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    season: int = Field(ge=1950)
    round: int = Field(ge=1)


class Entrant(BaseModel):
    """A driver on the grid: ids and names the leaderboard shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver_id: int
    code: str | None = None
    name: str
    constructor: str
    grid: int = Field(ge=0, description="Grid slot; 0 = pit-lane start.")


class RaceStart(_Event):
    """The lights go out: the entry list and the scheduled race distance."""

    type: Literal["race_start"] = "race_start"
    total_laps: int = Field(gt=0)
    drivers: list[Entrant] = Field(min_length=1)


class LapCompleted(_Event):
    """A driver crossed the line: lap number, its time, position and race time so far."""

    type: Literal["lap"] = "lap"
    driver_id: int
    lap: int = Field(ge=1)
    lap_time_ms: int = Field(gt=0)
    position: int = Field(ge=1)
    elapsed_ms: int = Field(gt=0, description="Race time at the end of this lap.")


class PitStop(_Event):
    """A pit stop at the end of ``lap`` (Ergast's lap of the stop) and its pit-lane time."""

    type: Literal["pit"] = "pit"
    driver_id: int
    lap: int = Field(ge=0)
    stop: int = Field(ge=1)
    duration_ms: int | None = Field(default=None, gt=0)


class Retirement(_Event):
    """A driver is out after ``lap`` laps, for ``status`` (Ergast's status text)."""

    type: Literal["retirement"] = "retirement"
    driver_id: int
    lap: int = Field(ge=0)
    status: str = Field(min_length=1)


class Classified(BaseModel):
    """One line of the official result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver_id: int
    position_text: str
    status: str
    laps: int = Field(ge=0)


class RaceFinish(_Event):
    """The chequered flag and the official classification (penalties applied)."""

    type: Literal["race_finish"] = "race_finish"
    classification: list[Classified] = Field(min_length=1)


Event = Annotated[
    RaceStart | LapCompleted | PitStop | Retirement | RaceFinish, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """A stream entry that is not a valid event; the message is the dead-letter reason."""


def encode(event: Event) -> dict[str, str]:
    """The stream entry fields of ``event``."""
    return {FIELD: event.model_dump_json()}


def decode(fields: dict[str, str]) -> Event:
    """The event in stream entry ``fields``; ``InvalidEvent`` with a one-line reason otherwise."""
    raw = fields.get(FIELD)
    if raw is None:
        raise InvalidEvent(f"no {FIELD!r} field (fields: {', '.join(sorted(fields)) or 'none'})")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(_reason(exc)) from None


def _reason(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "event"
    got = first.get("input")
    shown = repr(got) if not isinstance(got, dict) else "an object"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']} (got {shown[:80]}){more}"
