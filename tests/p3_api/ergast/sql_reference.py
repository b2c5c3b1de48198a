"""The reference the in-memory Ergast index is tested against: the SQL the API answered every
Ergast question with until the index replaced it (``fetch(cursor, request)``, one statement per
question over the published marts) and the document it built from the rows (``document``).

It was checked against the recorded Ergast responses and the real clients before it was retired.
It shares with the index only rules and tables, not the answering: which questions are
answerable (``check_answerable``), the filter echo, the exception, the select lists of a driver and a constructor, and the
per-item renderers of ``shapes``.

Every request value is a bound parameter; the SQL text is built only from the fragments below.
Event resources (results, sprint, qualifying, laps, pitstops, standings) page their innermost rows
(as Ergast does), entity resources page entities; ``total`` counts what is paged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from p3_api.ergast.grammar import ErgastRequest
from p3_api.ergast.index import (
    ECHO,
    RESULT_FILTERS,
    XMLNS,
    Scope,
    check_answerable,
)
from p3_api.ergast.shapes import (
    Json,
    Row,
    circuit,
    constructor,
    driver,
    lap_time,
    pit_stop,
    qualifying,
    race,
    result,
    schedule,
    standing,
    text,
)
from p3_api.ergast.tables import CONSTRUCTOR, DRIVER

RACE = (
    "ra.season, ra.round, ra.url as race_url, ra.race_name, ra.race_date, "
    "ra.race_start_time_utc, ci.circuit_ref, ci.url as circuit_url, ci.circuit_name, "
    "ci.latitude, ci.longitude, ci.location, ci.country"
)
SCHEDULE = (
    "ra.fp1_date, ra.fp1_time_utc, ra.fp2_date, ra.fp2_time_utc, ra.fp3_date, ra.fp3_time_utc, "
    "ra.qualifying_date, ra.qualifying_time_utc, ra.sprint_date, ra.sprint_time_utc"
)
CIRCUIT = "ci.circuit_ref, ci.url as circuit_url, ci.circuit_name, ci.latitude, ci.longitude, "
CIRCUIT += "ci.location, ci.country"

RACES_JOIN = "join marts.dim_circuits ci on ci.circuit_id = ra.circuit_id"
PEOPLE_JOIN = (
    "join marts.dim_drivers d on d.driver_id = {t}.driver_id "
    "join marts.dim_constructors co on co.constructor_id = {t}.constructor_id"
)


def entry_rows(table: str, alias: str) -> str:
    """``from`` a per-entry fact (``table`` as ``alias``) with its race, circuit, driver and
    constructor joined (``ra``, ``ci``, ``d``, ``co``). Trusted names only, never request values."""
    return (
        f"from marts.{table} {alias} join marts.dim_races ra on ra.race_id = {alias}.race_id "
        f"{RACES_JOIN} {PEOPLE_JOIN.format(t=alias)}"
    )


@dataclass
class Where:
    """``and``-ed SQL conditions and their bound parameters, in order."""

    conditions: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, condition: str, *params: object) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def sql(self) -> str:
        return " and ".join(self.conditions) or "true"


@dataclass
class Answer:
    """What a resource answers: the total over all pages and this page's rows."""

    total: int
    rows: list[dict[str, Any]]
    scope: Scope


def resolve(cursor: Any, request: ErgastRequest) -> Scope:
    """The season and round numbers ``current``, ``last`` and ``next`` stand for.

    ``current`` is the latest season on the published calendar; ``last`` the latest round of the
    season with race results; ``next`` the round after it.
    """
    season = request.season
    if season == "current":
        season = cursor.execute("select max(season) from marts.dim_races").fetchone()[0]
        if season is None:
            return Scope(None, None, empty=True)
    assert season is None or isinstance(season, int)
    round_ = request.round
    if round_ in ("last", "next"):
        (last,) = cursor.execute(
            "select max(round) from marts.fct_race_results where season = ?", [season]
        ).fetchone()
        if round_ == "last":
            if last is None:
                return Scope(season, None, empty=True)
            round_ = last
        else:
            round_ = (last or 0) + 1
    assert round_ is None or isinstance(round_, int)
    return Scope(season, round_)


def race_scope(where: Where, request: ErgastRequest, scope: Scope) -> None:
    """Season, round and circuit conditions on ``ra`` (dim_races) and ``ci`` (dim_circuits)."""
    if scope.season is not None:
        where.add("ra.season = ?", scope.season)
    if scope.round is not None:
        where.add("ra.round = ?", scope.round)
    if request.circuit is not None:
        where.add("ci.circuit_ref = ?", request.circuit)


def people_scope(where: Where, request: ErgastRequest) -> None:
    """Driver and constructor conditions on ``d`` and ``co``."""
    if request.driver is not None:
        where.add("d.driver_ref = ?", request.driver)
    if request.constructor is not None:
        where.add("co.constructor_ref = ?", request.constructor)


def result_scope(where: Where, request: ErgastRequest, table: str = "re") -> None:
    """Grid, finishing position, fastest-lap rank and status conditions on a results table."""
    people_scope(where, request)
    if request.grid is not None:
        where.add(f"{table}.grid = ?", request.grid)
    if request.position is not None:
        where.add(f"{table}.position_order = ?", request.position)
    if request.fastest is not None:
        where.add(f"{table}.fastest_lap_rank = ?", request.fastest)
    if request.status is not None:
        where.add(f"{table}.status_id = ?", request.status)


_TOTAL = "p3_total_rows"  # the window column carrying the row count on every row of a page


def fetch(cursor: Any, request: ErgastRequest) -> Answer:
    """The answer to ``request`` on ``cursor`` (a read-only snapshot cursor)."""
    check_answerable(request)
    scope = resolve(cursor, request)
    if scope.empty:
        return Answer(0, [], scope)
    total, rows = RESOURCE_QUERIES[request.resource](cursor, request, scope)
    return Answer(total, rows, scope)


def _page(
    cursor: Any, select: str, body: str, order: str, params: list[object], request: ErgastRequest
) -> tuple[int, list[dict[str, Any]]]:
    # One statement: the window counts every row the page is cut from (after any GROUP BY), so
    # the total costs no second pass over the joins. Only a page past the end needs a count.
    result = cursor.execute(
        f"select {select}, count(*) over () as {_TOTAL} {body} order by {order} limit ? offset ?",
        [*params, request.limit, request.offset],
    )
    names = [d[0] for d in result.description][:-1]
    rows = result.fetchall()
    if rows:
        total = rows[0][-1]
    elif request.offset == 0:
        total = 0
    else:
        (total,) = cursor.execute(
            f"select count(*) from (select {select} {body})", params
        ).fetchone()
    return int(total), [dict(zip(names, row[:-1], strict=True)) for row in rows]


def _results_exist(request: ErgastRequest, scope: Scope, link: str) -> Where:
    """``exists`` over race results in scope, linked to the outer entity by ``link``."""
    inner = Where()
    race_scope(inner, request, scope)
    result_scope(inner, request)
    inner.add(link)
    outer = Where()
    outer.add(
        f"exists (select 1 {entry_rows('fct_race_results', 're')} where {inner.sql()})",
        *inner.params,
    )
    return outer


def _races_exist(request: ErgastRequest, scope: Scope, link: str) -> Where:
    """``exists`` over calendar races in scope (no results needed), linked by ``link``."""
    inner = Where()
    race_scope(inner, request, scope)
    inner.add(link)
    outer = Where()
    outer.add(
        f"exists (select 1 from marts.dim_races ra {RACES_JOIN} where {inner.sql()})",
        *inner.params,
    )
    return outer


def _standing_exists(
    request: ErgastRequest, scope: Scope, kind: str, link: str, *link_params: object
) -> Where:
    """``exists`` over the final (or the given round's) standings at the requested position."""
    table, position = (
        ("fct_driver_standings", request.driver_standing)
        if kind == "driver"
        else ("fct_constructor_standings", request.constructor_standing)
    )
    inner = Where()
    inner.add("st.position = ?", position)
    if scope.season is not None:
        inner.add("st.season = ?", scope.season)
    if scope.round is not None:
        inner.add("st.round = ?", scope.round)
    else:
        inner.add("st.is_latest_round")
    inner.add(link, *link_params)
    outer = Where()
    outer.add(f"exists (select 1 from marts.{table} st where {inner.sql()})", *inner.params)
    return outer


def _entity_where(
    request: ErgastRequest, scope: Scope, *, results_link: str, races_link: str | None
) -> Where:
    """Conditions tying an entity to the races, results and standings the request selects."""
    where = Where()
    by_results = bool(request.given() & RESULT_FILTERS)
    by_races = scope.season is not None or scope.round is not None or request.circuit is not None
    if by_results or (by_races and races_link is None):
        part = _results_exist(request, scope, results_link)
        where.add(part.sql(), *part.params)
    elif by_races and races_link is not None:
        part = _races_exist(request, scope, races_link)
        where.add(part.sql(), *part.params)
    return where


def _drivers(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = _entity_where(
        request, scope, results_link="re.driver_id = x.driver_id", races_link=None
    )
    if request.driver is not None:
        where.add("x.driver_ref = ?", request.driver)
    if request.driver_standing is not None:
        part = _standing_exists(request, scope, "driver", "st.driver_id = x.driver_id")
        where.add(part.sql(), *part.params)
    select = DRIVER.replace("d.", "x.")
    body = f"from marts.dim_drivers x where {where.sql()}"
    return _page(cursor, select, body, "x.driver_ref", where.params, request)


def _constructors(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = _entity_where(
        request, scope, results_link="re.constructor_id = x.constructor_id", races_link=None
    )
    if request.constructor is not None:
        where.add("x.constructor_ref = ?", request.constructor)
    if request.constructor_standing is not None:
        link = "st.constructor_id = x.constructor_id"
        part = _standing_exists(request, scope, "constructor", link)
        where.add(part.sql(), *part.params)
    select = CONSTRUCTOR.replace("co.", "x.")
    body = f"from marts.dim_constructors x where {where.sql()}"
    return _page(cursor, select, body, "x.constructor_ref", where.params, request)


def _circuits(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = _entity_where(
        request,
        scope,
        results_link="ra.circuit_id = x.circuit_id",
        races_link="ra.circuit_id = x.circuit_id",
    )
    select = CIRCUIT.replace("ci.", "x.")
    body = f"from marts.dim_circuits x where {where.sql()}"
    return _page(cursor, select, body, "x.circuit_ref", where.params, request)


def _seasons(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = _entity_where(
        request, scope, results_link="ra.season = x.season", races_link="ra.season = x.season"
    )
    # Seasons the driver (constructor) of the path finished at the standings position.
    if request.driver_standing is not None:
        link, params = "st.season = x.season", []
        if request.driver is not None:
            link += " and st.driver_id in (select driver_id from marts.dim_drivers where driver_ref = ?)"
            params.append(request.driver)
        part = _standing_exists(request, scope, "driver", link, *params)
        where.add(part.sql(), *part.params)
    if request.constructor_standing is not None:
        link, params = "st.season = x.season", []
        if request.constructor is not None:
            link += (
                " and st.constructor_id in "
                "(select constructor_id from marts.dim_constructors where constructor_ref = ?)"
            )
            params.append(request.constructor)
        part = _standing_exists(request, scope, "constructor", link, *params)
        where.add(part.sql(), *part.params)
    body = f"from marts.dim_seasons x where {where.sql()}"
    return _page(cursor, "x.season, x.url", body, "x.season", where.params, request)


def _races(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    if request.given() & RESULT_FILTERS:
        part = _results_exist(request, scope, "ra.race_id = x.race_id")
        where.add(part.sql(), *part.params)
    body = f"from marts.dim_races ra {RACES_JOIN} where {where.sql()}"
    return _page(cursor, f"{RACE}, {SCHEDULE}", body, "ra.season, ra.round", where.params, request)


def _status(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    result_scope(where, request)
    body = (
        f"{entry_rows('fct_race_results', 're')} where {where.sql()} "
        "group by re.status_id, re.status"
    )
    select = "re.status_id, count(*) as count, re.status"
    return _page(cursor, select, body, "re.status_id", where.params, request)


def _results(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    result_scope(where, request)
    select = (
        f"{RACE}, {DRIVER}, {CONSTRUCTOR}, re.car_number, re.position_order, re.position_text, "
        "re.points, re.grid, re.laps, re.status, re.race_time, re.race_time_ms, re.fastest_lap, "
        "re.fastest_lap_rank, re.fastest_lap_time_ms, re.fastest_lap_speed_kph"
    )
    body = f"{entry_rows('fct_race_results', 're')} where {where.sql()}"
    order = "ra.season, ra.round, re.position_order, re.result_id"
    return _page(cursor, select, body, order, where.params, request)


def _sprint(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    people_scope(where, request)
    if request.grid is not None:
        where.add("sr.grid = ?", request.grid)
    if request.sprint_position is not None:
        where.add("sr.position_order = ?", request.sprint_position)
    if request.status is not None:
        where.add("sr.status_id = ?", request.status)
    select = (
        f"{RACE}, {DRIVER}, {CONSTRUCTOR}, sr.car_number, sr.position_order, sr.position_text, "
        "sr.points, sr.grid, sr.laps, sr.status, sr.sprint_time as race_time, "
        "sr.sprint_time_ms as race_time_ms, sr.fastest_lap, sr.fastest_lap_time_ms"
    )
    body = f"{entry_rows('fct_sprint_results', 'sr')} where {where.sql()}"
    order = "ra.season, ra.round, sr.position_order, sr.result_id"
    return _page(cursor, select, body, order, where.params, request)


def _qualifying(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    people_scope(where, request)
    if request.qualifying_position is not None:
        where.add("q.qualifying_position = ?", request.qualifying_position)
    select = (
        f"{RACE}, {DRIVER}, {CONSTRUCTOR}, q.car_number, q.qualifying_position, "
        "q.q1_ms, q.q2_ms, q.q3_ms"
    )
    body = f"{entry_rows('fct_qualifying', 'q')} where {where.sql()}"
    order = "ra.season, ra.round, q.qualifying_position nulls last, d.driver_ref"
    return _page(cursor, select, body, order, where.params, request)


def _laps(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    people_scope(where, request)
    if request.lap is not None:
        where.add("lt.lap = ?", request.lap)
    select = f"{RACE}, d.driver_ref, lt.lap, lt.position, lt.lap_time_ms"
    body = f"{entry_rows('fct_lap_times', 'lt')} where {where.sql()}"
    order = "ra.season, ra.round, lt.lap, lt.position"
    return _page(cursor, select, body, order, where.params, request)


def _pitstops(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = Where()
    race_scope(where, request, scope)
    if request.driver is not None:
        where.add("d.driver_ref = ?", request.driver)
    if request.lap is not None:
        where.add("ps.lap = ?", request.lap)
    if request.stop is not None:
        where.add("ps.stop = ?", request.stop)
    select = f"{RACE}, d.driver_ref, ps.lap, ps.stop, ps.stop_time_local, ps.duration_ms"
    body = (
        f"from marts.fct_pit_stops ps join marts.dim_races ra on ra.race_id = ps.race_id "
        f"{RACES_JOIN} join marts.dim_drivers d on d.driver_id = ps.driver_id where {where.sql()}"
    )
    # Ergast lists a race's stops in the order they happened.
    order = "ra.season, ra.round, ps.stop_time_local, ps.lap, ps.stop, d.driver_ref"
    return _page(cursor, select, body, order, where.params, request)


def _driver_standings(cursor: Any, request: ErgastRequest, scope: Scope) -> tuple[int, list[dict]]:
    where = _standings_where(request, scope)
    if request.driver is not None:
        where.add("d.driver_ref = ?", request.driver)
    if request.driver_standing is not None:
        where.add("st.position = ?", request.driver_standing)
    # The constructors a driver raced for in the season up to the round, first one first.
    constructors = (
        "(select list(struct_pack(constructor_ref := c.constructor_ref, "
        "constructor_url := c.url, constructor_name := c.constructor_name, "
        "constructor_nationality := c.nationality) order by f.first_round, c.constructor_ref) "
        "from (select r.constructor_id, min(r.round) as first_round "
        "from marts.fct_race_results r where r.season = st.season and r.round <= st.round "
        "and r.driver_id = st.driver_id group by r.constructor_id) f "
        "join marts.dim_constructors c on c.constructor_id = f.constructor_id) as constructors"
    )
    select = (
        f"st.season, st.round, st.position, st.position_text, st.points, st.wins, {DRIVER}, "
        f"{constructors}"
    )
    body = (
        "from marts.fct_driver_standings st join marts.dim_drivers d on d.driver_id = st.driver_id "
        f"where {where.sql()}"
    )
    order = "st.season, st.round, st.position, d.driver_ref"
    return _page(cursor, select, body, order, where.params, request)


def _constructor_standings(
    cursor: Any, request: ErgastRequest, scope: Scope
) -> tuple[int, list[dict]]:
    where = _standings_where(request, scope)
    if request.constructor is not None:
        where.add("co.constructor_ref = ?", request.constructor)
    if request.constructor_standing is not None:
        where.add("st.position = ?", request.constructor_standing)
    select = (
        f"st.season, st.round, st.position, st.position_text, st.points, st.wins, {CONSTRUCTOR}"
    )
    body = (
        "from marts.fct_constructor_standings st "
        "join marts.dim_constructors co on co.constructor_id = st.constructor_id "
        f"where {where.sql()}"
    )
    order = "st.season, st.round, st.position, co.constructor_ref"
    return _page(cursor, select, body, order, where.params, request)


def _standings_where(request: ErgastRequest, scope: Scope) -> Where:
    where = Where()
    if scope.season is not None:
        where.add("st.season = ?", scope.season)
    if scope.round is not None:
        where.add("st.round = ?", scope.round)
    else:
        # Without a round: each season's standings after its latest round.
        where.add("st.is_latest_round")
    return where


RESOURCE_QUERIES = {
    "seasons": _seasons,
    "circuits": _circuits,
    "races": _races,
    "constructors": _constructors,
    "drivers": _drivers,
    "status": _status,
    "results": _results,
    "sprint": _sprint,
    "qualifying": _qualifying,
    "laps": _laps,
    "pitstops": _pitstops,
    "driverStandings": _driver_standings,
    "constructorStandings": _constructor_standings,
}


def _grouped(rows: Iterable[Row], key: Callable[[Row], object]) -> list[list[Row]]:
    # Consecutive rows with the same key (the rows come ordered by it).
    groups: list[list[Row]] = []
    last: object = object()
    for row in rows:
        k = key(row)
        if not groups or k != last:
            groups.append([])
            last = k
        groups[-1].append(row)
    return groups


def _season_round(row: Row) -> tuple[int, int]:
    return (row["season"], row["round"])


def races_with(rows: list[Row], payload: str, item: Callable[[Row], Json]) -> list[Json]:
    """Races each carrying the page's rows of one payload list (``Results``, ``PitStops``...)."""
    out = []
    for group in _grouped(rows, _season_round):
        entry = race(group[0])
        entry[payload] = [item(row) for row in group]
        out.append(entry)
    return out


def races_with_laps(rows: list[Row]) -> list[Json]:
    """Races carrying ``Laps[{number, Timings[]}]``; a page may start or end mid-lap."""
    out = []
    for group in _grouped(rows, _season_round):
        entry = race(group[0])
        entry["Laps"] = [
            {
                "number": text(lap[0]["lap"]),
                "Timings": [
                    {
                        "driverId": r["driver_ref"],
                        "position": text(r["position"]),
                        "time": lap_time(r["lap_time_ms"]),
                    }
                    for r in lap
                ],
            }
            for lap in _grouped(group, lambda r: r["lap"])
        ]
        out.append(entry)
    return out


def standings_lists(rows: list[Row], kind: str) -> list[Json]:
    """``StandingsLists[{season, round, DriverStandings|ConstructorStandings[]}]``."""
    key = "DriverStandings" if kind == "driver" else "ConstructorStandings"
    return [
        {
            "season": text(group[0]["season"]),
            "round": text(group[0]["round"]),
            key: [standing(row, kind) for row in group],
        }
        for group in _grouped(rows, _season_round)
    ]


def _table(request: ErgastRequest, answer: Answer, key: str, items: list[Json]) -> Json:
    table: Json = {}
    if answer.scope.season is not None:
        table["season"] = text(answer.scope.season)
    if answer.scope.round is not None:
        table["round"] = text(answer.scope.round)
    for attribute, name in ECHO:
        value = getattr(request, attribute)
        if value is not None:
            table[name] = text(value)
    table[key] = items
    return table


def document(request: ErgastRequest, answer: Answer, url: str) -> Json:
    """The whole ``{"MRData": ...}`` answer to ``request``."""
    rows = answer.rows
    resource = request.resource
    if resource == "seasons":
        name, items = (
            "SeasonTable",
            ("Seasons", [{"season": text(r["season"]), "url": r["url"] or ""} for r in rows]),
        )
    elif resource == "circuits":
        name, items = "CircuitTable", ("Circuits", [circuit(r) for r in rows])
    elif resource == "drivers":
        name, items = "DriverTable", ("Drivers", [driver(r) for r in rows])
    elif resource == "constructors":
        name, items = "ConstructorTable", ("Constructors", [constructor(r) for r in rows])
    elif resource == "status":
        status = [
            {"statusId": text(r["status_id"]), "count": text(r["count"]), "status": r["status"]}
            for r in rows
        ]
        name, items = "StatusTable", ("Status", status)
    elif resource == "races":
        name, items = "RaceTable", ("Races", [schedule(r) for r in rows])
    elif resource == "results":
        name, items = "RaceTable", ("Races", races_with(rows, "Results", result))
    elif resource == "sprint":
        sprint_result: Callable[[Row], Json] = lambda r: result(r, sprint=True)  # noqa: E731
        name, items = "RaceTable", ("Races", races_with(rows, "SprintResults", sprint_result))
    elif resource == "qualifying":
        name, items = "RaceTable", ("Races", races_with(rows, "QualifyingResults", qualifying))
    elif resource == "laps":
        name, items = "RaceTable", ("Races", races_with_laps(rows))
    elif resource == "pitstops":
        name, items = "RaceTable", ("Races", races_with(rows, "PitStops", pit_stop))
    elif resource == "driverStandings":
        name, items = "StandingsTable", ("StandingsLists", standings_lists(rows, "driver"))
    else:
        name, items = "StandingsTable", ("StandingsLists", standings_lists(rows, "constructor"))
    return {
        "MRData": {
            "xmlns": XMLNS,
            "series": "f1",
            "url": url,
            "limit": text(request.limit),
            "offset": text(request.offset),
            "total": text(answer.total),
            name: _table(request, answer, *items),
        }
    }
