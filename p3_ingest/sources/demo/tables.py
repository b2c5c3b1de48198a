"""The demo table writers: simulated seasons and the world as Ergast-schema Arrow tables.

Each writer turns simulated weekends (or the world) into the columns of one Ergast table, in the
contract's column order, and conforms them to the contract's schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from p3_common.ergast import TABLES

from ..schema import conform, empty_table
from ..source import SourceKind
from .simulator import Result, Weekend, format_duration, season_form, simulate_weekend
from .world import RUNNING_STATUSES, STATUSES, DemoConfig, Race, Seat, World, season_calendar

SOURCE: SourceKind = "demo"
URL_BASE = "https://example.invalid/p3-demo"

FORMATION_LAP_S = 240  # pit stop times of day count from the start signal, after the formation lap


def _format_clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


# --- Season tables -------------------------------------------------------------------------------


Columns = dict[str, list[Any]]


def generate_season(config: DemoConfig, world: World, year: int) -> dict[str, pa.Table]:
    seats = world.seats[year]
    calendar = season_calendar(config, world, year)
    form = season_form(config, year, len(seats))
    weekends = [simulate_weekend(config, seats, race, form[race.round - 1]) for race in calendar]
    where = f"seed {config.seed}, season {year}"
    built: dict[str, Columns] = {
        "races": _races_columns(calendar),
        "qualifying": _qualifying_columns(weekends, seats),
        "results": _results_columns(weekends, seats, sprint=False),
        "sprint_results": _results_columns(weekends, seats, sprint=True),
        "lap_times": _lap_times_columns(weekends, seats),
        "pit_stops": _pit_stops_columns(weekends, seats),
        **_standings_columns(weekends, seats),
    }
    return {name: _conformed(name, columns, where) for name, columns in built.items()}


def _conformed(table: str, columns: Columns, where: str) -> pa.Table:
    if not next(iter(columns.values())):
        return empty_table(table)
    return conform(pa.table(columns), table, source=SOURCE, where=where)


def _races_columns(calendar: list[Race]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["races"].column_names}
    for race in calendar:
        hour = race.circuit.local_start_hour
        start = race.utc(0, hour)
        sessions: dict[str, datetime | None]
        if race.is_sprint:
            # Ergast's sprint-weekend convention: fp2 holds the Saturday sprint-qualifying slot.
            sessions = {
                "fp1": race.utc(-2, 11, 30),
                "quali": race.utc(-2, 15),
                "fp2": race.utc(-1, 10, 30),
                "sprint": race.utc(-1, 14, 30),
                "fp3": None,
            }
        else:
            sessions = {
                "fp1": race.utc(-2, 11, 30),
                "fp2": race.utc(-2, 15),
                "fp3": race.utc(-1, 11, 30),
                "quali": race.utc(-1, 15),
                "sprint": None,
            }
        row: dict[str, Any] = {
            "race_id": race.race_id,
            "year": race.year,
            "round": race.round,
            "circuit_id": race.circuit.circuit_id,
            "name": race.name,
            "date": start.date(),
            "time": _format_clock(start),
            "url": f"{URL_BASE}/races/{race.year}/{race.round}",
        }
        for session, moment in sessions.items():
            row[f"{session}_date"] = moment.date() if moment else None
            row[f"{session}_time"] = _format_clock(moment) if moment else None
        for name in cols:
            cols[name].append(row[name])
    return cols


def _qualifying_columns(weekends: list[Weekend], seats: list[Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["qualifying"].column_names}
    for weekend in weekends:
        quali = weekend.qualifying
        race_id = weekend.race.race_id
        for position, car in enumerate(quali.order, start=1):
            seat = seats[car]
            times = (quali.q1[car], quali.q2[car], quali.q3[car])
            row = {
                "qualify_id": race_id * 100 + position,
                "race_id": race_id,
                "driver_id": seat.driver_id,
                "constructor_id": seat.constructor_id,
                "number": seat.number,
                "position": position,
                **{
                    f"q{i}": None if t is None else format_duration(t)
                    for i, t in enumerate(times, start=1)
                },
            }
            for name in cols:
                cols[name].append(row[name])
    return cols


def _results_columns(weekends: list[Weekend], seats: list[Seat], *, sprint: bool) -> Columns:
    table = "sprint_results" if sprint else "results"
    cols: Columns = {name: [] for name in TABLES[table].column_names}
    for weekend in weekends:
        results = weekend.sprint_results if sprint else weekend.race_results
        if results is None:
            continue
        race_id = weekend.race.race_id
        length_km = weekend.race.circuit.length_km
        for r in sorted(results, key=lambda r: r.position_order):
            seat = seats[r.car]
            fl_ms = r.fastest_lap_ms
            row = {
                "result_id": race_id * 100 + r.position_order,
                "race_id": race_id,
                "driver_id": seat.driver_id,
                "constructor_id": seat.constructor_id,
                "number": seat.number,
                "grid": r.grid,
                "position": r.position,
                "position_text": r.position_text,
                "position_order": r.position_order,
                "points": r.points,
                "laps": r.laps,
                "time": r.time,
                "milliseconds": r.milliseconds,
                "fastest_lap": r.fastest_lap,
                "rank": r.rank,
                "fastest_lap_time": None if fl_ms is None else format_duration(fl_ms),
                "fastest_lap_speed": None if fl_ms is None else round(length_km / fl_ms * 3.6e6, 3),
                "status_id": r.status_id,
            }
            for name in cols:
                cols[name].append(row[name])
    return cols


def _lap_times_columns(weekends: list[Weekend], seats: list[Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["lap_times"].column_names}
    for weekend in weekends:
        results = weekend.race_results
        race_id = weekend.race.race_id
        positions = _lap_positions(results)
        for r in results:
            driver_id = seats[r.car].driver_id
            cumulative = 0
            for lap, ms in enumerate(r.lap_ms, start=1):
                cumulative += ms
                cols["race_id"].append(race_id)
                cols["driver_id"].append(driver_id)
                cols["lap"].append(lap)
                cols["position"].append(positions[(r.car, lap)])
                cols["time"].append(format_duration(ms))
                cols["milliseconds"].append(ms)
    return cols


def _lap_positions(results: list[Result]) -> dict[tuple[int, int], int]:
    """Running order at the end of each lap among the cars that completed it."""
    cumulative = {r.car: np.cumsum(r.lap_ms) for r in results}
    most = max((r.laps for r in results), default=0)
    positions: dict[tuple[int, int], int] = {}
    for lap in range(1, most + 1):
        crossing = sorted(
            (int(cumulative[r.car][lap - 1]), r.car) for r in results if r.laps >= lap
        )
        for position, (_, car) in enumerate(crossing, start=1):
            positions[(car, lap)] = position
    return positions


def _pit_stops_columns(weekends: list[Weekend], seats: list[Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["pit_stops"].column_names}
    for weekend in weekends:
        race = weekend.race
        start = race.local(0, race.circuit.local_start_hour) + timedelta(seconds=FORMATION_LAP_S)
        for r in weekend.race_results:
            # A stop happened if the car completed its in-lap and was still racing afterwards.
            made = [
                (lap, ms)
                for lap, ms in weekend.stops[r.car]
                if lap < r.laps or (lap == r.laps and r.status_id not in RUNNING_STATUSES)
            ]
            elapsed = np.cumsum(r.lap_ms) if r.lap_ms else np.array([0])
            for stop, (lap, ms) in enumerate(made, start=1):
                moment = start + timedelta(milliseconds=int(elapsed[lap - 1]))
                cols["race_id"].append(race.race_id)
                cols["driver_id"].append(seats[r.car].driver_id)
                cols["stop"].append(stop)
                cols["lap"].append(lap)
                cols["time"].append(_format_clock(moment))
                cols["duration"].append(format_duration(ms))
                cols["milliseconds"].append(ms)
    return cols


def _standings_columns(weekends: list[Weekend], seats: list[Seat]) -> dict[str, Columns]:
    """Cumulative driver and constructor standings after each round, and per-race team points."""
    driver_ids = [s.driver_id for s in seats]
    team_ids = sorted({s.constructor_id for s in seats})
    team_of = [team_ids.index(s.constructor_id) for s in seats]
    n_positions = len(seats)
    driver_points = np.zeros(len(seats))
    team_points = np.zeros(len(team_ids))
    # Countback: finishing-position counts break ties on points (wins first, then seconds, ...).
    driver_counts = np.zeros((len(seats), n_positions + 1), dtype=int)
    team_counts = np.zeros((len(team_ids), n_positions + 1), dtype=int)
    out: dict[str, Columns] = {
        name: {c: [] for c in TABLES[name].column_names}
        for name in ("driver_standings", "constructor_standings", "constructor_results")
    }
    for weekend in weekends:
        race_id = weekend.race.race_id
        race_team_points = np.zeros(len(team_ids))
        for r in weekend.race_results + (weekend.sprint_results or []):
            driver_points[r.car] += r.points
            race_team_points[team_of[r.car]] += r.points
        for r in weekend.race_results:
            if r.position is not None:
                driver_counts[r.car, r.position] += 1
                team_counts[team_of[r.car], r.position] += 1
        team_points += race_team_points
        for index, team_id in enumerate(team_ids):
            _append(
                out["constructor_results"],
                constructor_results_id=race_id * 100 + index + 1,
                race_id=race_id,
                constructor_id=team_id,
                points=float(race_team_points[index]),
                status=None,
            )
        _append_standings(
            out["driver_standings"], "driver", race_id, driver_ids, driver_points, driver_counts
        )
        _append_standings(
            out["constructor_standings"], "constructor", race_id, team_ids, team_points, team_counts
        )
    return out


def _append_standings(
    cols: Columns,
    entity: str,
    race_id: int,
    ids: list[int],
    points: np.ndarray,
    counts: np.ndarray,
) -> None:
    ranked = sorted(
        range(len(ids)),
        key=lambda i: (-points[i], *(-counts[i, p] for p in range(1, counts.shape[1])), ids[i]),
    )
    for position, i in enumerate(ranked, start=1):
        _append(
            cols,
            **{f"{entity}_standings_id": race_id * 100 + position},
            race_id=race_id,
            **{f"{entity}_id": ids[i]},
            points=float(points[i]),
            position=position,
            position_text=str(position),
            wins=int(counts[i, 1]),
        )


def _append(cols: Columns, **row: Any) -> None:
    for name in cols:
        cols[name].append(row[name])


# --- Reference tables ----------------------------------------------------------------------------


def reference_columns(config: DemoConfig, world: World, table: str) -> Columns:
    if table == "seasons":
        return {
            "year": config.years,
            "url": [f"{URL_BASE}/seasons/{year}" for year in config.years],
        }
    if table == "status":
        return {"status_id": list(STATUSES), "status": list(STATUSES.values())}
    if table == "constructors":
        return _rows_to_columns(
            table,
            [
                {
                    "constructor_id": t.constructor_id,
                    "constructor_ref": t.ref,
                    "name": t.name,
                    "nationality": t.nationality,
                    "url": f"{URL_BASE}/constructors/{t.ref}",
                }
                for t in world.teams
            ],
        )
    if table == "drivers":
        return _rows_to_columns(
            table,
            [
                {
                    "driver_id": d.driver_id,
                    "driver_ref": d.ref,
                    "number": d.number,
                    "code": d.code,
                    "forename": d.forename,
                    "surname": d.surname,
                    "dob": d.dob,
                    "nationality": d.nationality,
                    "url": f"{URL_BASE}/drivers/{d.ref}",
                }
                for d in world.drivers
            ],
        )
    if table == "circuits":
        # Only circuits that hosted a race: the spare ones of the pool may never be used.
        used = {
            race.circuit.circuit_id
            for y in config.years
            for race in season_calendar(config, world, y)
        }
        return _rows_to_columns(
            table,
            [
                {
                    "circuit_id": c.circuit_id,
                    "circuit_ref": c.ref,
                    "name": c.name,
                    "location": c.location,
                    "country": c.country,
                    "lat": c.lat,
                    "lng": c.lng,
                    "alt": c.alt,
                    "url": f"{URL_BASE}/circuits/{c.ref}",
                }
                for c in world.circuits
                if c.circuit_id in used
            ],
        )
    raise ValueError(f"unknown reference table {table!r}")


def _rows_to_columns(table: str, rows: list[dict[str, Any]]) -> Columns:
    return {name: [row[name] for row in rows] for name in TABLES[table].column_names}
