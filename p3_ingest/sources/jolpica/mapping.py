"""Response mapping for the ``jolpica`` source: Ergast JSON objects (the Races, StandingsLists and
reference items of ``MRData``) into rows of the Ergast contract tables.

Mapping is pure but for id lookups: the API names drivers, constructors, circuits and statuses by
string, and ``Ids`` (``ids.WarehouseIds``) turns those into warehouse integer ids.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa

from p3_common.ergast import TABLES

from .. import schema
from ..errors import SourceError
from ..timing import duration_to_ms
from .resources import SOURCE, Json

Row = dict[str, Any]

# Reference table -> key of its string id in the API objects.
API_REF_KEYS = {"drivers": "driverId", "constructors": "constructorId", "circuits": "circuitId"}

# Ergast convention: in sprint weekends fp2 holds the sprint shootout (2023) or sprint qualifying
# (2024+); Jolpica names those sessions separately: use them when SecondPractice is absent.
_SESSIONS: dict[str, tuple[str, ...]] = {
    "fp1": ("FirstPractice",),
    "fp2": ("SecondPractice", "SprintShootout", "SprintQualifying"),
    "fp3": ("ThirdPractice",),
    "quali": ("Qualifying",),
    "sprint": ("Sprint",),
}


class Ids(Protocol):
    """The id lookups mapping needs (``ids.WarehouseIds`` provides them)."""

    def ref_id(self, table: str, ref: str | None, *, where: str, row: int) -> int | None:
        """Warehouse id of a driver, constructor or circuit ref (None for a missing ref)."""
        ...

    def status_id(self, text: str | None, table: str, where: str, row: int) -> int | None:
        """Warehouse id of a status text (None for a missing text)."""
        ...


def opt(obj: Json | None, key: str) -> Any:
    """An optional API value: absent, JSON null and "" all mean no value."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return None if value is None or value == "" else value


def nested(obj: Json | None, *keys: str) -> Any:
    """``opt`` of the last key, following the others through nested objects."""
    for key in keys[:-1]:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return opt(obj, keys[-1])


def conform(rows: list[Row], table: str, where: str) -> pa.Table:
    """Rows as a contract table; ``schema.conform`` keeps only contract columns and checks them."""
    columns = TABLES[table].column_names
    data = pa.table({c: pa.array([row.get(c) for row in rows]) for c in columns})
    return schema.conform(data, table, source=SOURCE, where=where)


# --------------------------------------------------------------------------- reference tables


def season_row(item: Json) -> Row:
    return {"year": opt(item, "season"), "url": opt(item, "url")}


def entity_rows(table: str, items: list[Json], ids: dict[str, int]) -> list[Row]:
    """Rows of drivers, constructors or circuits; ``ids`` maps each item's ref to its id."""
    build = {"drivers": _driver_row, "constructors": _constructor_row, "circuits": _circuit_row}
    return [build[table](item, ids.get(opt(item, API_REF_KEYS[table]))) for item in items]


def _driver_row(item: Json, driver_id: int | None) -> Row:
    return {
        "driver_id": driver_id,
        "driver_ref": opt(item, "driverId"),
        "number": opt(item, "permanentNumber"),
        "code": opt(item, "code"),
        "forename": opt(item, "givenName"),
        "surname": opt(item, "familyName"),
        "dob": opt(item, "dateOfBirth"),
        "nationality": opt(item, "nationality"),
        "url": opt(item, "url"),
    }


def _constructor_row(item: Json, constructor_id: int | None) -> Row:
    return {
        "constructor_id": constructor_id,
        "constructor_ref": opt(item, "constructorId"),
        "name": opt(item, "name"),
        "nationality": opt(item, "nationality"),
        "url": opt(item, "url"),
    }


def _circuit_row(item: Json, circuit_id: int | None) -> Row:
    return {
        "circuit_id": circuit_id,
        "circuit_ref": opt(item, "circuitId"),
        "name": opt(item, "circuitName"),
        "location": nested(item, "Location", "locality"),
        "country": nested(item, "Location", "country"),
        "lat": nested(item, "Location", "lat"),
        "lng": nested(item, "Location", "long"),
        "alt": None,  # the API has no altitude; only the CSV dump carries it
        "url": opt(item, "url"),
    }


# --------------------------------------------------------------------------- races


def race_row(ids: Ids, race: Json, race_ids: dict[int, int], where: str, row: int) -> Row:
    out: Row = {
        "race_id": race_ids[int(race["round"])],
        "year": opt(race, "season"),
        "round": opt(race, "round"),
        "circuit_id": ids.ref_id(
            "circuits", nested(race, "Circuit", "circuitId"), where=where, row=row
        ),
        "name": opt(race, "raceName"),
        "date": opt(race, "date"),
        "time": opt(race, "time"),
        "url": opt(race, "url"),
    }
    for column, keys in _SESSIONS.items():
        session = next((race[k] for k in keys if isinstance(race.get(k), dict)), None)
        out[f"{column}_date"] = opt(session, "date")
        out[f"{column}_time"] = opt(session, "time")
    return out


# --------------------------------------------------------------------------- race-scoped tables


def _result_row(
    ids: Ids, entry: Json, race_id: int, result_id: int, where: str, row: int, table: str
) -> Row:
    position_text = opt(entry, "positionText")
    # The API's `position` is the classification order; Ergast's `position` is null for
    # unclassified entries (positionText R, D, E, W, F, N).
    order = opt(entry, "position")
    classified = isinstance(position_text, str) and position_text.isdigit()
    return {
        "result_id": result_id,
        "race_id": race_id,
        "driver_id": _driver(ids, entry, where, row),
        "constructor_id": _constructor(ids, entry, where, row),
        "number": opt(entry, "number"),
        "grid": opt(entry, "grid"),
        "position": order if classified else None,
        "position_text": position_text,
        "position_order": order,
        "points": opt(entry, "points"),
        "laps": opt(entry, "laps"),
        "time": nested(entry, "Time", "time"),
        "milliseconds": nested(entry, "Time", "millis"),
        "fastest_lap": nested(entry, "FastestLap", "lap"),
        "rank": nested(entry, "FastestLap", "rank"),
        "fastest_lap_time": nested(entry, "FastestLap", "Time", "time"),
        "fastest_lap_speed": nested(entry, "FastestLap", "AverageSpeed", "speed"),
        "status_id": ids.status_id(opt(entry, "status"), table, where, row),
    }


def _qualifying_row(
    ids: Ids, entry: Json, race_id: int, qualify_id: int, where: str, row: int
) -> Row:
    return {
        "qualify_id": qualify_id,
        "race_id": race_id,
        "driver_id": _driver(ids, entry, where, row),
        "constructor_id": _constructor(ids, entry, where, row),
        "number": opt(entry, "number"),
        "position": opt(entry, "position"),
        "q1": opt(entry, "Q1"),
        "q2": opt(entry, "Q2"),
        "q3": opt(entry, "Q3"),
    }


def _driver_standing_row(
    ids: Ids, entry: Json, race_id: int, standings_id: int, where: str, row: int
) -> Row:
    return {
        "driver_standings_id": standings_id,
        "race_id": race_id,
        "driver_id": _driver(ids, entry, where, row),
        **_standing_values(entry),
    }


def _constructor_standing_row(
    ids: Ids, entry: Json, race_id: int, standings_id: int, where: str, row: int
) -> Row:
    return {
        "constructor_standings_id": standings_id,
        "race_id": race_id,
        "constructor_id": _constructor(ids, entry, where, row),
        **_standing_values(entry),
    }


# (ids, entry, race_id, row id, where, row number) -> row
EntryRow = Callable[[Ids, Json, int, int, str, int], Row]

# Tables with one row per payload entry and a per-row surrogate id (``ids.ROW_IDS``).
ENTRY_ROWS: dict[str, EntryRow] = {
    "results": functools.partial(_result_row, table="results"),
    "sprint_results": functools.partial(_result_row, table="sprint_results"),
    "qualifying": _qualifying_row,
    "driver_standings": _driver_standing_row,
    "constructor_standings": _constructor_standing_row,
}


def lap_rows(ids: Ids, laps: list[Json], race_id: int, where: str) -> list[Row]:
    rows: list[Row] = []
    for lap in laps:
        for timing in lap.get("Timings") or []:
            index = len(rows) + 1
            lap_time = opt(timing, "time")
            rows.append(
                {
                    "race_id": race_id,
                    "driver_id": ids.ref_id(
                        "drivers", opt(timing, "driverId"), where=where, row=index
                    ),
                    "lap": opt(lap, "number"),
                    "position": opt(timing, "position"),
                    "time": lap_time,
                    # The API has no lap milliseconds; Ergast's always equal the parsed time.
                    "milliseconds": _duration_ms(lap_time, "lap_times", where, index),
                }
            )
    return rows


def pit_stop_rows(ids: Ids, stops: list[Json], race_id: int, where: str) -> list[Row]:
    rows: list[Row] = []
    for index, stop in enumerate(stops, start=1):
        duration = opt(stop, "duration")
        rows.append(
            {
                "race_id": race_id,
                "driver_id": ids.ref_id("drivers", opt(stop, "driverId"), where=where, row=index),
                "stop": opt(stop, "stop"),
                "lap": opt(stop, "lap"),
                "time": opt(stop, "time"),
                "duration": duration,
                "milliseconds": _duration_ms(duration, "pit_stops", where, index),
            }
        )
    return rows


def constructor_points(ids: Ids, entries: list[Json], where: str) -> dict[int, float]:
    """Constructor id -> points summed over race (and sprint) result entries."""
    points: dict[int, float] = {}
    for index, entry in enumerate(entries, start=1):
        constructor_id = _constructor(ids, entry, where, index)
        if constructor_id is None:
            raise SourceError(
                SOURCE,
                "constructor_results",
                "result without a constructor",
                where=where,
                row=index,
                column="constructorId",
            )
        points[constructor_id] = points.get(constructor_id, 0.0) + _points(entry, where, index)
    return points


def constructor_results_rows(
    points: dict[int, float], race_id: int, row_ids: list[int]
) -> list[Row]:
    return [
        {
            "constructor_results_id": row_id,
            "race_id": race_id,
            "constructor_id": constructor_id,
            "points": total,
            "status": None,
        }
        for row_id, (constructor_id, total) in zip(row_ids, points.items(), strict=True)
    ]


# --------------------------------------------------------------------------- one entry's values


def _driver(ids: Ids, entry: Json, where: str, row: int) -> int | None:
    return ids.ref_id("drivers", nested(entry, "Driver", "driverId"), where=where, row=row)


def _constructor(ids: Ids, entry: Json, where: str, row: int) -> int | None:
    ref = nested(entry, "Constructor", "constructorId")
    return ids.ref_id("constructors", ref, where=where, row=row)


def _standing_values(entry: Json) -> Row:
    return {
        "points": opt(entry, "points"),
        "position": opt(entry, "position"),
        "position_text": opt(entry, "positionText"),
        "wins": opt(entry, "wins"),
    }


def _duration_ms(value: str | None, table: str, where: str, row: int) -> int | None:
    if value is not None and value.startswith("."):
        # Jolpica formats sub-second durations by stripping every leading "0:" character.
        value = "0" + value
    try:
        return duration_to_ms(value)
    except ValueError as exc:
        raise SourceError(
            SOURCE, table, str(exc), where=where, row=row, column="milliseconds"
        ) from exc


def _points(entry: Json, where: str, row: int) -> float:
    value = opt(entry, "points")
    try:
        return float(value) if value is not None else 0.0
    except ValueError as exc:
        raise SourceError(
            SOURCE,
            "constructor_results",
            f"points {value!r} is not a number",
            where=where,
            row=row,
            column="points",
        ) from exc
