"""The published snapshot's Ergast rows, read once per build into memory: ``load_*(cursor)``.

Each resource becomes a ``Table``: its rows in the order Ergast answers them, the columns its
filters compare (numpy arrays, so a question is a few vectorised comparisons over a sorted range)
and each row's JSON already rendered by ``shapes`` (so an answer is string joins, not a query and
``json.dumps`` of nested dicts). Every read here is a fixed SQL text; no request value is in it.

Key columns are integers: refs become ids, a missing value is ``MISSING`` (a request's values are
never negative, so it never matches). ``sr`` is ``season * 1000 + round``: rows sorted by season
and round are sorted by it, and a season or a race is a ``searchsorted`` range.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from . import shapes

MISSING = -1
SR_ROUNDS = 1000  # ``sr = season * SR_ROUNDS + round``
KEY = np.int32  # every key and request value fits (the grammar's numbers have at most 9 digits)

dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Table:
    """Rows in answer order: integer key columns to filter on, and each row's rendered JSON."""

    keys: dict[str, np.ndarray]
    fragments: list[str]

    def __len__(self) -> int:
        return len(self.fragments)


@dataclass(frozen=True)
class Entities:
    """An entity list (drivers, constructors, circuits, seasons) sorted as Ergast lists it, with
    the position of each id in that order (``MISSING`` where no entity has the id)."""

    table: Table
    position_of: np.ndarray
    id_of_ref: dict[str, int]


@dataclass(frozen=True)
class Calendar:
    """Every race (season, round order): ``schedule`` fragments for the ``races`` resource and
    the open race headers (``race`` without its closing brace) that event answers extend."""

    table: Table
    headers: list[str]
    position_of: np.ndarray  # race_id -> position


def _rows(cursor: Any, sql: str) -> list[dict[str, Any]]:
    result = cursor.execute(sql)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _column(rows: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    return np.fromiter(
        (MISSING if r[name] is None else r[name] for r in rows), dtype=KEY, count=len(rows)
    )


def _lookup(ids: np.ndarray) -> np.ndarray:
    position_of = np.full(int(ids.max(initial=0)) + 1, MISSING, dtype=KEY)
    position_of[ids] = np.arange(len(ids))
    return position_of


def _sr(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    return _column(rows, "season") * SR_ROUNDS + _column(rows, "round")


def _open(fragment: str) -> str:
    # '{"a":1}' -> '{"a":1': a JSON object another key can still be added to.
    return fragment[:-1]


RACE = (
    "ra.race_id, ra.season, ra.round, ra.url as race_url, ra.race_name, ra.race_date, "
    "ra.race_start_time_utc, ra.circuit_id, ci.circuit_ref, ci.url as circuit_url, "
    "ci.circuit_name, ci.latitude, ci.longitude, ci.location, ci.country, "
    "ra.fp1_date, ra.fp1_time_utc, ra.fp2_date, ra.fp2_time_utc, ra.fp3_date, ra.fp3_time_utc, "
    "ra.qualifying_date, ra.qualifying_time_utc, ra.sprint_date, ra.sprint_time_utc"
)
DRIVER = (
    "d.driver_ref, d.permanent_number, d.driver_code, d.url as driver_url, d.forename, "
    "d.surname, d.date_of_birth, d.nationality as driver_nationality"
)
CONSTRUCTOR = (
    "co.constructor_ref, co.url as constructor_url, co.constructor_name, "
    "co.nationality as constructor_nationality"
)
CIRCUIT = (
    "ci.circuit_id, ci.circuit_ref, ci.url as circuit_url, ci.circuit_name, ci.latitude, "
    "ci.longitude, ci.location, ci.country"
)


def event_rows(table: str, alias: str, *, constructor: bool = True) -> str:
    """``from`` an event fact with its race, circuit, driver and (unless not) constructor joined
    (``ra``, ``ci``, ``d``, ``co``): inner joins, so a row missing one of them is not answered."""
    sql = (
        f"from marts.{table} {alias} join marts.dim_races ra on ra.race_id = {alias}.race_id "
        "join marts.dim_circuits ci on ci.circuit_id = ra.circuit_id "
        f"join marts.dim_drivers d on d.driver_id = {alias}.driver_id"
    )
    if constructor:
        sql += f" join marts.dim_constructors co on co.constructor_id = {alias}.constructor_id"
    return sql


EVENT = "ra.race_id, ra.season, ra.round, ra.circuit_id"  # what every event row is keyed by


def load_calendar(cursor: Any) -> Calendar:
    """Every race of the published calendar, with its circuit."""
    rows = _rows(
        cursor,
        f"select {RACE} from marts.dim_races ra "
        "join marts.dim_circuits ci on ci.circuit_id = ra.circuit_id order by ra.season, ra.round",
    )
    keys = {"sr": _sr(rows), "circuit": _column(rows, "circuit_id")}
    keys["season"] = _column(rows, "season")
    return Calendar(
        Table(keys, [dumps(shapes.schedule(r)) for r in rows]),
        [_open(dumps(shapes.race(r))) for r in rows],
        _lookup(_column(rows, "race_id")),
    )


def _entities(
    rows: list[dict[str, Any]], id_name: str, ref_name: str | None, render: Callable[..., Any]
) -> Entities:
    ids = _column(rows, id_name)
    refs = {r[ref_name]: int(i) for r, i in zip(rows, ids, strict=True)} if ref_name else {}
    return Entities(Table({"id": ids}, [dumps(render(r)) for r in rows]), _lookup(ids), refs)


def load_drivers(cursor: Any) -> Entities:
    """Every driver, by ``driverId`` (the ref)."""
    rows = _rows(cursor, f"select d.driver_id, {DRIVER} from marts.dim_drivers d order by 2")
    return _entities(rows, "driver_id", "driver_ref", shapes.driver)


def load_constructors(cursor: Any) -> Entities:
    """Every constructor, by ``constructorId`` (the ref)."""
    rows = _rows(
        cursor,
        f"select co.constructor_id, {CONSTRUCTOR} from marts.dim_constructors co order by 2",
    )
    return _entities(rows, "constructor_id", "constructor_ref", shapes.constructor)


def load_circuits(cursor: Any) -> Entities:
    """Every circuit, by ``circuitId`` (the ref)."""
    rows = _rows(cursor, f"select {CIRCUIT} from marts.dim_circuits ci order by 2")
    return _entities(rows, "circuit_id", "circuit_ref", shapes.circuit)


def load_seasons(cursor: Any) -> Entities:
    """Every season, in order."""
    rows = _rows(cursor, "select season, url from marts.dim_seasons order by season")
    return _entities(rows, "season", None, shapes.season)


def _event_keys(
    rows: list[dict[str, Any]], calendar: Calendar, columns: dict[str, str]
) -> dict[str, np.ndarray]:
    sr = _sr(rows)
    keys = {
        "sr": sr,
        "season": sr // SR_ROUNDS,
        "race": calendar.position_of[_column(rows, "race_id")],
    }
    keys.update({key: _column(rows, column) for key, column in columns.items()})
    return keys


RESULT_COLUMNS = {
    "circuit": "circuit_id",
    "driver": "driver_id",
    "constructor": "constructor_id",
    "grid": "grid",
    "position": "position_order",
    "fastest": "fastest_lap_rank",
    "status": "status_id",
}


def load_results(cursor: Any, calendar: Calendar) -> Table:
    """Race results, by race and finishing order (shared drives, which share a place, in the
    order of their Ergast result ids, so pages never repeat or skip a row)."""
    rows = _rows(
        cursor,
        f"select {EVENT}, re.driver_id, re.constructor_id, re.status_id, {DRIVER}, {CONSTRUCTOR}, re.car_number, re.position_order, "
        "re.position_text, re.points, re.grid, re.laps, re.status, re.race_time, re.race_time_ms, "
        "re.fastest_lap, re.fastest_lap_rank, re.fastest_lap_time_ms, re.fastest_lap_speed_kph "
        f"{event_rows('fct_race_results', 're')} order by ra.season, ra.round, re.position_order, re.result_id",
    )
    return Table(
        _event_keys(rows, calendar, RESULT_COLUMNS), [dumps(shapes.result(r)) for r in rows]
    )


def load_status_names(cursor: Any) -> dict[int, str]:
    """Each status id's text, as the results carry it."""
    sql = "select distinct status_id, status from marts.fct_race_results"
    return dict(cursor.execute(sql).fetchall())


def load_sprint(cursor: Any, calendar: Calendar) -> Table:
    """Sprint results, by race and finishing order."""
    rows = _rows(
        cursor,
        f"select {EVENT}, sr.driver_id, sr.constructor_id, sr.status_id, {DRIVER}, {CONSTRUCTOR}, sr.car_number, sr.position_order, "
        "sr.position_text, sr.points, sr.grid, sr.laps, sr.status, sr.sprint_time as race_time, "
        "sr.sprint_time_ms as race_time_ms, sr.fastest_lap, sr.fastest_lap_time_ms "
        f"{event_rows('fct_sprint_results', 'sr')} order by ra.season, ra.round, sr.position_order, sr.result_id",
    )
    columns = {**RESULT_COLUMNS, "sprint_position": "position_order"}
    del columns["position"], columns["fastest"]
    return Table(
        _event_keys(rows, calendar, columns), [dumps(shapes.result(r, sprint=True)) for r in rows]
    )


def load_qualifying(cursor: Any, calendar: Calendar) -> Table:
    """Qualifying results, by race and qualifying position (unplaced last)."""
    rows = _rows(
        cursor,
        f"select {EVENT}, q.driver_id, q.constructor_id, {DRIVER}, {CONSTRUCTOR}, q.car_number, q.qualifying_position, q.q1_ms, q.q2_ms, q.q3_ms "
        f"{event_rows('fct_qualifying', 'q')} "
        "order by ra.season, ra.round, q.qualifying_position nulls last, d.driver_ref",
    )
    columns = {
        "circuit": "circuit_id",
        "driver": "driver_id",
        "constructor": "constructor_id",
        "qualifying_position": "qualifying_position",
    }
    return Table(_event_keys(rows, calendar, columns), [dumps(shapes.qualifying(r)) for r in rows])


def load_laps(cursor: Any, calendar: Calendar) -> Table:
    """Lap timings, by race, lap and position (the lap number is a key: pages group by it)."""
    result = cursor.execute(
        f"select {EVENT}, lt.driver_id, lt.constructor_id, lt.lap, d.driver_ref, lt.position, "
        f"lt.lap_time_ms {event_rows('fct_lap_times', 'lt')} "
        "order by ra.season, ra.round, lt.lap, lt.position"
    )
    columns = result.fetchnumpy()  # 0.5 M rows: no dict per row
    keys = {
        "sr": (columns["season"].astype(KEY) * SR_ROUNDS + columns["round"]).astype(KEY),
        "race": calendar.position_of[columns["race_id"]],
        "driver": columns["driver_id"].astype(KEY),
        "constructor": columns["constructor_id"].astype(KEY),
        "lap": columns["lap"].astype(KEY),
    }
    fragments = [
        shapes.timing_json(ref, int(position), int(ms))
        for ref, position, ms in zip(
            columns["driver_ref"].tolist(),
            columns["position"].tolist(),
            columns["lap_time_ms"].tolist(),
            strict=True,
        )
    ]
    return Table(keys, fragments)


def load_pit_stops(cursor: Any, calendar: Calendar) -> Table:
    """Pit stops, by race in the order they happened."""
    rows = _rows(
        cursor,
        f"select {EVENT}, ps.driver_id, d.driver_ref, ps.lap, ps.stop, ps.stop_time_local, "
        f"ps.duration_ms {event_rows('fct_pit_stops', 'ps', constructor=False)} "
        "order by ra.season, ra.round, ps.stop_time_local, ps.lap, ps.stop, d.driver_ref",
    )
    columns = {"driver": "driver_id", "lap": "lap", "stop": "stop"}
    return Table(_event_keys(rows, calendar, columns), [dumps(shapes.pit_stop(r)) for r in rows])


def load_driver_standings(cursor: Any) -> Table:
    """Drivers' standings after every round, each with the constructors the driver raced for in
    the season up to that round (first one first)."""
    rows = _rows(
        cursor,
        "with firsts as (select season, driver_id, constructor_id, min(round) as first_round "
        "from marts.fct_race_results group by all), "
        "teams as (select st.driver_standings_id, list(struct_pack("
        "constructor_ref := c.constructor_ref, constructor_url := c.url, "
        "constructor_name := c.constructor_name, constructor_nationality := c.nationality) "
        "order by f.first_round, c.constructor_ref) as constructors "
        "from marts.fct_driver_standings st join firsts f on f.season = st.season "
        "and f.driver_id = st.driver_id and f.first_round <= st.round "
        "join marts.dim_constructors c on c.constructor_id = f.constructor_id "
        "group by st.driver_standings_id) "
        f"select st.season, st.round, st.driver_id, st.is_latest_round, st.position, "
        f"st.position_text, st.points, st.wins, {DRIVER}, t.constructors "
        "from marts.fct_driver_standings st join marts.dim_drivers d on d.driver_id = st.driver_id "
        "left join teams t on t.driver_standings_id = st.driver_standings_id "
        "order by st.season, st.round, st.position, d.driver_ref",
    )
    return _standings(rows, "driver")


def load_constructor_standings(cursor: Any) -> Table:
    """Constructors' standings after every round."""
    rows = _rows(
        cursor,
        f"select st.season, st.round, st.constructor_id, st.is_latest_round, st.position, "
        f"st.position_text, st.points, st.wins, {CONSTRUCTOR} "
        "from marts.fct_constructor_standings st "
        "join marts.dim_constructors co on co.constructor_id = st.constructor_id "
        "order by st.season, st.round, st.position, co.constructor_ref",
    )
    return _standings(rows, "constructor")


def _standings(rows: list[dict[str, Any]], kind: str) -> Table:
    # ``kind`` "driver" or "constructor": also the name of the id column its filters compare.
    keys = {
        "sr": _sr(rows),
        kind: _column(rows, f"{kind}_id"),
        "position": _column(rows, "position"),
        "latest": _column(rows, "is_latest_round"),
    }
    return Table(keys, [dumps(shapes.standing(r, kind)) for r in rows])
