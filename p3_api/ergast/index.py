"""Ergast answers from memory: ``ErgastIndex(build_id).answer(request, url, cursor)``.

The published snapshot changes only when a build is published, and the Ergast history is small
(the largest resource, lap timings, is half a million rows), so each API process reads a
resource's rows once per build (``tables``) and answers every question about it in memory: the
request's season and round are a range of the sorted rows, each filter a vectorised comparison,
the page a slice, and the document a join of rows rendered at load. An answer costs tens of
microseconds where one SQL statement over the marts cost milliseconds; the rows, their order and
the JSON are those the SQL answered (``tests/p3_api/ergast`` compares the two on many questions).

Semantics (as Ergast): event resources (results, sprint, qualifying, laps, pitstops, standings)
page their innermost rows and ``total`` counts them; entity resources (seasons, circuits, races,
drivers, constructors, status) page entities, restricted to those the request's races, results
and standings select.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import shapes
from .grammar import ErgastRequest
from .tables import (
    SR_ROUNDS,
    Calendar,
    Entities,
    Table,
    dumps,
    load_calendar,
    load_circuits,
    load_constructor_standings,
    load_constructors,
    load_driver_standings,
    load_drivers,
    load_laps,
    load_pit_stops,
    load_qualifying,
    load_results,
    load_seasons,
    load_sprint,
    load_status_names,
)

XMLNS = ""  # Jolpica's value; Ergast sent "http://ergast.com/mrd/1.5" (clients ignore it)
NO_SUCH_REF = -2  # the id of a ref no entity has: matches no row (a missing value is -1)
REF_ENTITIES = {"circuit": "circuits", "driver": "drivers", "constructor": "constructors"}


class BadRequest(Exception):
    """A well-formed path asking a combination this API does not answer (400)."""


class NotLoaded(Exception):
    """The answer needs a part not read yet, and no cursor was given to read it with."""


@dataclass(frozen=True)
class Scope:
    """The request with ``current``/``last``/``next`` resolved; ``empty`` when nothing can match."""

    season: int | None
    round: int | None
    empty: bool = False


# Which filters each resource honours (beyond season and round); others are a 400.
RESULT_FILTERS = {"driver", "constructor", "grid", "position", "fastest", "status"}
ENTITY_FILTERS = {"circuit"} | RESULT_FILTERS | {"driver_standing", "constructor_standing"}
ALLOWED: dict[str, set[str]] = {
    "seasons": ENTITY_FILTERS,
    "circuits": ENTITY_FILTERS - {"driver_standing", "constructor_standing"},
    "races": ENTITY_FILTERS - {"driver_standing", "constructor_standing"},
    "drivers": ENTITY_FILTERS - {"constructor_standing"},
    "constructors": ENTITY_FILTERS - {"driver_standing"},
    "status": {"circuit"} | RESULT_FILTERS,
    "results": {"circuit"} | RESULT_FILTERS,
    "sprint": {"circuit", "driver", "constructor", "grid", "sprint_position", "status"},
    "qualifying": {"circuit", "driver", "constructor", "qualifying_position"},
    "laps": {"driver", "constructor", "lap"},
    "pitstops": {"driver", "lap", "stop"},
    "driverStandings": {"driver", "driver_standing"},
    "constructorStandings": {"constructor", "constructor_standing"},
}

# The key column each filter compares, per event resource (request field -> column).
RESULTS_KEYS = {f: f for f in ("circuit", "driver", "constructor", "grid", "position")}
RESULTS_KEYS |= {"fastest": "fastest", "status": "status"}
EVENT_KEYS: dict[str, dict[str, str]] = {
    "results": RESULTS_KEYS,
    "sprint": {f: f for f in ("circuit", "driver", "constructor", "grid", "status")}
    | {"sprint_position": "sprint_position"},
    "qualifying": {f: f for f in ("circuit", "driver", "constructor", "qualifying_position")},
    "laps": {"driver": "driver", "constructor": "constructor", "lap": "lap"},
    "pitstops": {"driver": "driver", "lap": "lap", "stop": "stop"},
    "driverStandings": {"driver": "driver", "driver_standing": "position"},
    "constructorStandings": {"constructor": "constructor", "constructor_standing": "position"},
}

# Where each resource's items go: (table name, list key).
CONTAINERS = {
    "seasons": ("SeasonTable", "Seasons"),
    "circuits": ("CircuitTable", "Circuits"),
    "drivers": ("DriverTable", "Drivers"),
    "constructors": ("ConstructorTable", "Constructors"),
    "status": ("StatusTable", "Status"),
    "driverStandings": ("StandingsTable", "StandingsLists"),
    "constructorStandings": ("StandingsTable", "StandingsLists"),
}
RACE_PAYLOADS = {
    "results": "Results",
    "sprint": "SprintResults",
    "qualifying": "QualifyingResults",
    "pitstops": "PitStops",
}

# RaceTable echo keys of the filters, in Ergast's order.
ECHO = (
    ("circuit", "circuitId"),
    ("constructor", "constructorId"),
    ("driver", "driverId"),
    ("grid", "grid"),
    ("position", "position"),
    ("fastest", "fastest"),
    ("status", "statusId"),
    ("qualifying_position", "position"),
    ("sprint_position", "position"),
    ("lap", "lap"),
    ("stop", "stop"),
    ("driver_standing", "driverStandings"),
    ("constructor_standing", "constructorStandings"),
)

Loader = Callable[["ErgastIndex", Any], Any]
LOADERS: dict[str, Loader] = {
    "calendar": lambda index, cursor: load_calendar(cursor),
    "drivers": lambda index, cursor: load_drivers(cursor),
    "constructors": lambda index, cursor: load_constructors(cursor),
    "circuits": lambda index, cursor: load_circuits(cursor),
    "seasons": lambda index, cursor: load_seasons(cursor),
    "status_names": lambda index, cursor: load_status_names(cursor),
    "results": lambda index, cursor: load_results(cursor, index.part("calendar", cursor)),
    "sprint": lambda index, cursor: load_sprint(cursor, index.part("calendar", cursor)),
    "qualifying": lambda index, cursor: load_qualifying(cursor, index.part("calendar", cursor)),
    "laps": lambda index, cursor: load_laps(cursor, index.part("calendar", cursor)),
    "pitstops": lambda index, cursor: load_pit_stops(cursor, index.part("calendar", cursor)),
    "driverStandings": lambda index, cursor: load_driver_standings(cursor),
    "constructorStandings": lambda index, cursor: load_constructor_standings(cursor),
}


class ErgastIndex:
    """One published build's Ergast rows, each part read on first use (``cursor`` must be a
    cursor on that build: the API passes the one its lease holds)."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()  # a part may load the calendar it needs

    def part(self, name: str, cursor: Any | None) -> Any:
        """A loaded part (``LOADERS``), read from ``cursor`` the first time it is asked for
        (``NotLoaded`` then, without a cursor)."""
        found = self._parts.get(name)
        if found is None:
            if cursor is None:
                raise NotLoaded(name)
            with self._lock:
                found = self._parts.get(name)
                if found is None:
                    found = self._parts[name] = LOADERS[name](self, cursor)
        return found

    def answer(self, request: ErgastRequest, url: str, cursor: Any | None) -> str:
        """The whole ``{"MRData": ...}`` document answering ``request`` (JSON text); without a
        cursor, only from parts already read (``NotLoaded`` otherwise)."""
        check_answerable(request)
        question = _Question(self, cursor, request)
        table_name, list_key = CONTAINERS.get(request.resource, ("RaceTable", "Races"))
        total, items = (0, "") if question.scope.empty else question.items()
        return _document(request, question.scope, url, total, table_name, list_key, items)


def check_answerable(request: ErgastRequest) -> None:
    """``BadRequest`` for a combination this API does not answer: a filter the resource does not
    take, or laps and pit stops without a season and a round."""
    unsupported = request.given() - ALLOWED[request.resource]
    if unsupported:
        raise BadRequest(
            f"{request.resource} cannot be filtered by {', '.join(sorted(unsupported))}"
        )
    if request.resource in ("laps", "pitstops") and (
        request.season is None or request.round is None
    ):
        raise BadRequest(f"{request.resource} need a season and a round")


class _Question:
    """One request being answered: its resolved scope and the row selections it needs."""

    def __init__(self, index: ErgastIndex, cursor: Any | None, request: ErgastRequest) -> None:
        self.index = index
        self.cursor = cursor
        self.request = request
        self.scope = self._resolve()

    def part(self, name: str) -> Any:
        return self.index.part(name, self.cursor)

    def _resolve(self) -> Scope:
        # current: the latest season on the calendar; last: the season's latest round with
        # results; next: the round after it.
        season = self.request.season
        if season == "current":
            seasons = self.part("calendar").table.keys["season"]
            if not len(seasons):
                return Scope(None, None, empty=True)
            season = int(seasons.max())
        assert season is None or isinstance(season, int)
        round_ = self.request.round
        if round_ in ("last", "next"):
            sr = self.part("results").keys["sr"]
            lo, hi = _span(sr, season, None)
            last = int(sr[hi - 1]) % SR_ROUNDS if hi > lo else None
            if round_ == "last":
                if last is None:
                    return Scope(season, None, empty=True)
                round_ = last
            else:
                round_ = (last or 0) + 1
        assert round_ is None or isinstance(round_, int)
        if round_ is not None and round_ >= SR_ROUNDS:
            return Scope(season, round_, empty=True)  # no season has that many rounds
        return Scope(season, round_)

    # -- values and row selections ---------------------------------------------------------

    def value(self, field: str) -> int:
        """The request's value of a filter, refs as the entity's id."""
        given = getattr(self.request, field)
        if field in REF_ENTITIES:
            entities: Entities = self.part(REF_ENTITIES[field])
            return entities.id_of_ref.get(given, NO_SUCH_REF)
        return int(given)

    def rows(self, table: Table, keys: dict[str, str], *extra: tuple[str, int]) -> np.ndarray:
        """Positions of ``table``'s rows in the request's season and round that match every
        filter of ``keys`` the request gives, and ``extra`` (column, value) pairs."""
        lo, hi = _span(table.keys["sr"], self.scope.season, self.scope.round)
        conditions = [
            (column, self.value(field))
            for field, column in keys.items()
            if getattr(self.request, field) is not None
        ]
        conditions.extend(extra)
        if not conditions:
            return np.arange(lo, hi)
        mask = np.ones(hi - lo, dtype=bool)
        for column, value in conditions:
            mask &= table.keys[column][lo:hi] == value
        return np.flatnonzero(mask) + lo

    def result_rows(self) -> np.ndarray:
        """Race results in the request's races that match its result filters."""
        return self.rows(self.part("results"), RESULTS_KEYS)

    def race_rows(self) -> np.ndarray:
        """Calendar races in the request's season, round and circuit."""
        return self.rows(self.part("calendar").table, {"circuit": "circuit"})

    def standing_rows(self, kind: str, position: int, *extra: tuple[str, int]) -> np.ndarray:
        """Standings entries at ``position`` after the request's round (each season's latest
        round without one)."""
        table = self.part("driverStandings" if kind == "driver" else "constructorStandings")
        return self.rows(table, {}, ("position", position), *self.latest_unless_round(), *extra)

    def latest_unless_round(self) -> tuple[tuple[str, int], ...]:
        """The standings condition of a request without a round: each season's standings after
        its latest round."""
        return () if self.scope.round is not None else (("latest", 1),)

    def linked(self, results_key: str, races_key: str | None) -> np.ndarray | None:
        """Entity ids the request's results (or, without result filters, its calendar races)
        tie the entity to; ``None`` when the request does not restrict the entity by race."""
        request, scope = self.request, self.scope
        by_results = bool(request.given() & RESULT_FILTERS)
        by_races = scope.season is not None or scope.round is not None or request.circuit
        if by_results or (by_races and races_key is None):
            results = self.part("results")
            return np.unique(results.keys[results_key][self.result_rows()])
        if by_races and races_key is not None:
            calendar: Calendar = self.part("calendar")
            return np.unique(calendar.table.keys[races_key][self.race_rows()])
        return None

    # -- resources -------------------------------------------------------------------------

    def items(self) -> tuple[int, str]:
        """``total`` and this page's items (comma-joined JSON) of the request's resource."""
        resource = self.request.resource
        if resource in LIST_RESOURCES:
            return LIST_RESOURCES[resource](self)
        table = self.part(resource)
        extra = self.latest_unless_round() if resource.endswith("Standings") else ()
        rows = self.rows(table, EVENT_KEYS[resource], *extra)
        page = self.page(rows)
        if resource == "laps":
            return len(rows), _races_with_laps(self.part("calendar"), table, page)
        if resource.endswith("Standings"):
            kind = "DriverStandings" if resource == "driverStandings" else "ConstructorStandings"
            return len(rows), _standings_lists(table, page, kind)
        payload = RACE_PAYLOADS[resource]
        return len(rows), _races_with(self.part("calendar"), table, page, payload)

    def page(self, rows: np.ndarray) -> list[int]:
        offset, limit = self.request.offset, self.request.limit
        return rows[offset : offset + limit].tolist()

    def entity_page(self, entities: Entities, ids: np.ndarray | None) -> tuple[int, str]:
        """The page of ``entities`` with ``ids`` (all when ``None``), in the entities' order."""
        if ids is None:
            positions = np.arange(len(entities.table))
        else:
            ids = ids[(ids >= 0) & (ids < len(entities.position_of))]
            found = entities.position_of[ids]
            positions = np.sort(found[found >= 0])
        fragments = entities.table.fragments
        return len(positions), ",".join(fragments[i] for i in self.page(positions))

    def _people(self, kind: str) -> tuple[int, str]:
        # drivers / constructors: those in the request's results, the one named, and those at
        # the standings position asked.
        ids = self.linked(kind, None)
        if getattr(self.request, kind) is not None:
            named = np.array([self.value(kind)])
            ids = named if ids is None else np.intersect1d(ids, named)
        standing = getattr(self.request, f"{kind}_standing")
        if standing is not None:
            table = self.part(f"{kind}Standings")
            ranked = np.unique(table.keys[kind][self.standing_rows(kind, standing)])
            ids = ranked if ids is None else np.intersect1d(ids, ranked)
        return self.entity_page(self.part(f"{kind}s"), ids)

    def _circuits(self) -> tuple[int, str]:
        return self.entity_page(self.part("circuits"), self.linked("circuit", "circuit"))

    def _seasons(self) -> tuple[int, str]:
        ids = self.linked("season", "season")
        # Seasons the driver (constructor) of the path finished at the standings position.
        for kind in ("driver", "constructor"):
            standing = getattr(self.request, f"{kind}_standing")
            if standing is None:
                continue
            named = () if getattr(self.request, kind) is None else ((kind, self.value(kind)),)
            table = self.part(f"{kind}Standings")
            rows = self.standing_rows(kind, standing, *named)
            ranked = np.unique(table.keys["sr"][rows] // SR_ROUNDS)
            ids = ranked if ids is None else np.intersect1d(ids, ranked)
        return self.entity_page(self.part("seasons"), ids)

    def _races(self) -> tuple[int, str]:
        rows = self.race_rows()
        if self.request.given() & RESULT_FILTERS:
            with_results = np.unique(self.part("results").keys["race"][self.result_rows()])
            rows = rows[np.isin(rows, with_results)]
        fragments = self.part("calendar").table.fragments
        return len(rows), ",".join(fragments[i] for i in self.page(rows))

    def _status(self) -> tuple[int, str]:
        results = self.part("results")
        ids, counts = np.unique(results.keys["status"][self.result_rows()], return_counts=True)
        names = self.part("status_names")
        chosen = self.page(np.arange(len(ids)))
        items = (
            dumps(shapes.status(int(ids[i]), int(counts[i]), names[int(ids[i])])) for i in chosen
        )
        return len(ids), ",".join(items)


# Resources that page entities (or status groups) rather than event rows.
LIST_RESOURCES: dict[str, Callable[[_Question], tuple[int, str]]] = {
    "drivers": lambda question: question._people("driver"),
    "constructors": lambda question: question._people("constructor"),
    "circuits": _Question._circuits,
    "seasons": _Question._seasons,
    "races": _Question._races,
    "status": _Question._status,
}


def _span(sr: np.ndarray, season: int | None, round_: int | None) -> tuple[int, int]:
    """The range of rows sorted by ``sr`` in ``season`` (and ``round_``); all without a season."""
    if season is None:
        return 0, len(sr)
    if round_ is None:
        first, last = season * SR_ROUNDS, season * SR_ROUNDS + SR_ROUNDS - 1
    else:
        first = last = season * SR_ROUNDS + round_
    return int(np.searchsorted(sr, first, "left")), int(np.searchsorted(sr, last, "right"))


def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of equal consecutive values of ``keys``."""
    if not len(keys):
        return []
    cuts = (np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()
    bounds = [0, *cuts, len(keys)]
    return list(zip(bounds, bounds[1:], strict=False))


def _races_with(calendar: Calendar, table: Table, page: list[int], payload: str) -> str:
    """Races each carrying the page's rows of one payload list (``Results``, ``PitStops``...)."""
    races = table.keys["race"][page]
    fragments = table.fragments
    return ",".join(
        f'{calendar.headers[races[a]]},"{payload}":[{",".join(fragments[i] for i in page[a:b])}]}}'
        for a, b in _runs(races)
    )


def _races_with_laps(calendar: Calendar, table: Table, page: list[int]) -> str:
    """Races carrying ``Laps[{number, Timings[]}]``; a page may start or end mid-lap."""
    races, laps = table.keys["race"][page], table.keys["lap"][page]
    fragments = table.fragments
    out = []
    for a, b in _runs(races):
        lap_items = ",".join(
            f'{{"number":"{laps[a + c]}","Timings":[{",".join(fragments[i] for i in page[a + c : a + d])}]}}'
            for c, d in _runs(laps[a:b])
        )
        out.append(f'{calendar.headers[races[a]]},"Laps":[{lap_items}]}}')
    return ",".join(out)


def _standings_lists(table: Table, page: list[int], kind: str) -> str:
    """``StandingsLists[{season, round, DriverStandings|ConstructorStandings[]}]``."""
    srs = table.keys["sr"][page]
    fragments = table.fragments
    return ",".join(
        f'{{"season":"{srs[a] // SR_ROUNDS}","round":"{srs[a] % SR_ROUNDS}",'
        f'"{kind}":[{",".join(fragments[i] for i in page[a:b])}]}}'
        for a, b in _runs(srs)
    )


def _document(
    request: ErgastRequest,
    scope: Scope,
    url: str,
    total: int,
    table_name: str,
    list_key: str,
    items: str,
) -> str:
    """``{"MRData": {envelope, <table_name>: {scope and filter echo, <list_key>: [items]}}}``."""
    envelope = {
        "xmlns": XMLNS,
        "series": "f1",
        "url": url,
        "limit": str(request.limit),
        "offset": str(request.offset),
        "total": str(total),
    }
    echo: dict[str, str] = {}
    if scope.season is not None:
        echo["season"] = str(scope.season)
    if scope.round is not None:
        echo["round"] = str(scope.round)
    for field, name in ECHO:
        value = getattr(request, field)
        if value is not None:
            echo[name] = str(value)
    table = dumps(echo)[:-1] + ("," if echo else "") + f'"{list_key}":[{items}]}}'
    return f'{{"MRData":{dumps(envelope)[:-1]},"{table_name}":{table}}}}}'
