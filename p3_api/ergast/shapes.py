"""One row to its Ergast JSON item: string-typed values, optional fields left out when empty."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, time
from typing import Any

Row = dict[str, Any]
Json = dict[str, Any]


def text(value: object) -> str:
    """A scalar as Ergast writes it: whole numbers without a decimal point, dates ISO."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def lap_time(ms: int) -> str:
    """A lap or qualifying time as Ergast writes it: ``m:ss.mmm`` (``h:mm:ss.mmm`` from an hour)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"{minutes}:{seconds:02d}.{millis:03d}"


def duration(ms: int) -> str:
    """A pit stop duration as Ergast writes it: ``ss.mmm``, from a minute ``m:ss.mmm``."""
    if ms >= 60_000:
        return lap_time(ms)
    seconds, millis = divmod(ms, 1000)
    return f"{seconds}.{millis:03d}"


def _put(target: Json, key: str, value: object, render: Callable[[Any], Any] = text) -> None:
    # Ergast leaves a field out when it has no value.
    if value is not None:
        target[key] = render(value)


def race(row: Row) -> Json:
    """The race header every RaceTable entry starts with."""
    out: Json = {
        "season": text(row["season"]),
        "round": text(row["round"]),
        "url": row["race_url"] or "",
        "raceName": row["race_name"],
        "Circuit": circuit(row),
        "date": text(row["race_date"]),
    }
    _put(out, "time", row["race_start_time_utc"], lambda t: f"{t.isoformat()}Z")
    return out


def schedule(row: Row) -> Json:
    """A race with its sessions, as the ``races`` resource shows it."""
    out = race(row)
    for key, prefix in (
        ("FirstPractice", "fp1"),
        ("SecondPractice", "fp2"),
        ("ThirdPractice", "fp3"),
        ("Qualifying", "qualifying"),
        ("Sprint", "sprint"),
    ):
        day = row[f"{prefix}_date"]
        if day is None:
            continue
        session: Json = {"date": text(day)}
        _put(session, "time", row[f"{prefix}_time_utc"], lambda t: f"{t.isoformat()}Z")
        out[key] = session
    return out


def circuit(row: Row) -> Json:
    """``Circuit{circuitId, url, circuitName, Location{lat, long, locality, country}}``."""
    location: Json = {}
    _put(location, "lat", row["latitude"])
    _put(location, "long", row["longitude"])
    _put(location, "locality", row["location"])
    _put(location, "country", row["country"])
    return {
        "circuitId": row["circuit_ref"],
        "url": row["circuit_url"] or "",
        "circuitName": row["circuit_name"],
        "Location": location,
    }


def driver(row: Row) -> Json:
    """``Driver{driverId, permanentNumber?, code?, url, givenName, familyName, dateOfBirth, nationality}``."""
    out: Json = {"driverId": row["driver_ref"]}
    _put(out, "permanentNumber", row["permanent_number"])
    _put(out, "code", row["driver_code"])
    out["url"] = row["driver_url"] or ""
    out["givenName"] = row["forename"]
    out["familyName"] = row["surname"]
    _put(out, "dateOfBirth", row["date_of_birth"])
    _put(out, "nationality", row["driver_nationality"])
    return out


def constructor(row: Row) -> Json:
    """``Constructor{constructorId, url, name, nationality}``."""
    out: Json = {
        "constructorId": row["constructor_ref"],
        "url": row["constructor_url"] or "",
        "name": row["constructor_name"],
    }
    _put(out, "nationality", row["constructor_nationality"])
    return out


def result(row: Row, *, sprint: bool = False) -> Json:
    """One ``Results`` (or ``SprintResults``) entry."""
    out: Json = {}
    _put(out, "number", row["car_number"])
    out["position"] = text(row["position_order"])
    out["positionText"] = row["position_text"]
    out["points"] = text(row["points"])
    out["Driver"] = driver(row)
    out["Constructor"] = constructor(row)
    _put(out, "grid", row["grid"])
    _put(out, "laps", row["laps"])
    _put(out, "status", row["status"])
    if row["race_time_ms"] is not None and row["race_time"] is not None:
        out["Time"] = {"millis": text(row["race_time_ms"]), "time": row["race_time"]}
    if row["fastest_lap"] is not None or row["fastest_lap_time_ms"] is not None:
        fastest: Json = {}
        if not sprint:
            _put(fastest, "rank", row["fastest_lap_rank"])
        _put(fastest, "lap", row["fastest_lap"])
        _put(fastest, "Time", row["fastest_lap_time_ms"], lambda ms: {"time": lap_time(ms)})
        if not sprint and row["fastest_lap_speed_kph"] is not None:
            speed = f"{row['fastest_lap_speed_kph']:.3f}"
            fastest["AverageSpeed"] = {"units": "kph", "speed": speed}
        out["FastestLap"] = fastest
    return out


def qualifying(row: Row) -> Json:
    """One ``QualifyingResults`` entry."""
    out: Json = {}
    _put(out, "number", row["car_number"])
    _put(out, "position", row["qualifying_position"])
    out["Driver"] = driver(row)
    out["Constructor"] = constructor(row)
    for key in ("q1", "q2", "q3"):
        _put(out, key.upper(), row[f"{key}_ms"], lap_time)
    return out


def timing_json(driver_ref: str, position: int, lap_time_ms: int) -> str:
    """One lap ``Timings`` entry, already as JSON (half a million of them are rendered per build)."""
    return (
        f'{{"driverId":{json.dumps(driver_ref, ensure_ascii=False)},'
        f'"position":"{position}","time":"{lap_time(lap_time_ms)}"}}'
    )


def pit_stop(row: Row) -> Json:
    """One ``PitStops`` entry."""
    out: Json = {
        "driverId": row["driver_ref"],
        "lap": text(row["lap"]),
        "stop": text(row["stop"]),
    }
    _put(out, "time", row["stop_time_local"])
    _put(out, "duration", row["duration_ms"], duration)
    return out


def standing(row: Row, kind: str) -> Json:
    """One ``DriverStandings`` (``kind`` "driver") or ``ConstructorStandings`` entry."""
    entry: Json = {}
    _put(entry, "position", row["position"])
    entry["positionText"] = row["position_text"]
    entry["points"] = text(row["points"])
    entry["wins"] = text(row["wins"])
    if kind == "driver":
        entry["Driver"] = driver(row)
        entry["Constructors"] = [constructor(c) for c in row["constructors"] or []]
    else:
        entry["Constructor"] = constructor(row)
    return entry


def season(row: Row) -> Json:
    """One ``Seasons`` entry."""
    return {"season": text(row["season"]), "url": row["url"] or ""}


def status(status_id: int, count: int, name: str) -> Json:
    """One ``Status`` entry: how many results in scope ended with it."""
    return {"statusId": text(status_id), "count": text(count), "status": name}
