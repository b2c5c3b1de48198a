"""The ``jolpica`` source: Ergast contract tables from the Jolpica API, fetched round by round."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from p3_common.ergast import REFERENCE_TABLES, SEASON_TABLES, TABLES

from . import schema
from .errors import SourceError
from .jolpica_client import SOURCE, JolpicaClient
from .source import SourceName, WarehouseCatalog
from .timing import duration_to_ms

Json = dict[str, Any]
Row = dict[str, Any]

# Contract table -> (API resource, payload list inside the Race / StandingsList).
_ROUND_TABLES: dict[str, tuple[str, str]] = {
    "results": ("results", "Results"),
    "sprint_results": ("sprint", "SprintResults"),
    "qualifying": ("qualifying", "QualifyingResults"),
    "lap_times": ("laps", "Laps"),
    "pit_stops": ("pitstops", "PitStops"),
    "driver_standings": ("driverStandings", "DriverStandings"),
    "constructor_standings": ("constructorStandings", "ConstructorStandings"),
}
_STANDINGS = ("driver_standings", "constructor_standings")

# Reference table -> key of its string id in the API objects.
_API_REF_KEYS = {"drivers": "driverId", "constructors": "constructorId", "circuits": "circuitId"}

# Per-row surrogate ids the source allocates above the warehouse maximum.
_ROW_IDS = {
    "results": "result_id",
    "sprint_results": "result_id",
    "qualifying": "qualify_id",
    "driver_standings": "driver_standings_id",
    "constructor_standings": "constructor_standings_id",
    "constructor_results": "constructor_results_id",
}

# Ergast convention: in sprint weekends fp2 holds the sprint shootout (2023) or sprint qualifying
# (2024+); Jolpica names those sessions separately: use them when SecondPractice is absent.
_SESSIONS: dict[str, tuple[str, ...]] = {
    "fp1": ("FirstPractice",),
    "fp2": ("SecondPractice", "SprintShootout", "SprintQualifying"),
    "fp3": ("ThirdPractice",),
    "quali": ("Qualifying",),
    "sprint": ("Sprint",),
}


def _opt(obj: Json | None, key: str) -> Any:
    """An optional API value: absent, JSON null and "" all mean no value."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return None if value is None or value == "" else value


def _nested(obj: Json | None, *keys: str) -> Any:
    for key in keys[:-1]:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return _opt(obj, keys[-1])


class JolpicaSource:
    """Ergast tables from the Jolpica API (an ``ErgastSource``), mapped onto warehouse ids.

    The API names drivers, constructors and circuits by string refs; integer ids come from the
    ``catalog`` (what the warehouse holds) and new refs get ids above ``catalog.max_id``, allocated
    in sorted ref order over the API's full reference list, so ``reference_table('drivers')`` and a
    season table give a new driver the same id. Rounds get race ids the same way (new rounds in
    round order), and new rows of results-like tables get ids above the warehouse maximum. Ids
    handed out by one source instance are remembered, so two seasons fetched by the same instance
    never collide. Load reference tables and races before the other season tables: ids allocated
    for refs the warehouse does not know yet are only stable once those tables are loaded.

    ``season_table`` is incremental: it fetches only rounds whose race date is before ``today``
    and that ``catalog.loaded_rounds`` does not hold, and returns the full season (warehouse rows
    plus new rows), since the loader replaces a season partition as a whole. ``races`` is the
    exception: the schedule is one request whatever is loaded, so races already run are kept from
    the warehouse and every other round (future ones may be rescheduled) comes from the schedule.

    ``constructor_results`` has no API endpoint; it is derived from the round's race and sprint
    results: points summed per constructor (the modern rule, every car scores for its constructor,
    which is how Ergast's table adds up from 1979 on; earlier seasons counted only some cars, so do
    not use this source for them). ``status`` is null: the ``D`` flag of Ergast's table has no API
    counterpart. Deriving beats an empty table because marts join constructor points per race.
    """

    name: SourceName = "jolpica"

    def __init__(
        self,
        client: JolpicaClient,
        catalog: WarehouseCatalog,
        *,
        today: date | Callable[[], date] | None = None,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self._today = today
        self._schedules: dict[int, list[Json]] = {}
        self._race_id_maps: dict[int, dict[int, int]] = {}
        self._ref_maps: dict[str, dict[str, int]] = {}
        self._ref_items: dict[str, list[Json]] = {}
        self._issued: dict[tuple[str, str], int] = {}
        self._payloads: dict[tuple[int, int, str], Json | None] = {}

    # -- ErgastSource

    def seasons(self) -> list[int]:
        """Every season the API lists, ascending."""
        return sorted(int(item["season"]) for item in self.client.seasons())

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        """The API has no circuit altitude: a reload keeps what the CSV dump loaded."""
        return ("alt",) if table == "circuits" else ()

    def reference_table(self, table: str) -> pa.Table:
        """A whole reference table from the API, with warehouse ids for known refs."""
        if table not in REFERENCE_TABLES:
            raise ValueError(f"{table!r} is not a reference table: {REFERENCE_TABLES}")
        self.client.start_step(table)  # the step deadline bounds one table load
        if table == "seasons":
            items = self.client.reference("seasons")
            rows = [{"year": _opt(s, "season"), "url": _opt(s, "url")} for s in items]
        elif table == "status":
            rows = self._status_rows(self.client.reference("status"))
        else:
            rows = self._entity_rows(table)
        return self._conform(rows, table, self.client.url(table))

    def season_table(self, table: str, season: int) -> pa.Table:
        """Every row of ``table`` for ``season``: warehouse rows plus the rounds fetched now."""
        if table not in SEASON_TABLES:
            raise ValueError(f"{table!r} is not a season table: {SEASON_TABLES}")
        self.client.start_step(f"{table} {season}")  # the step deadline bounds one table load
        if table == "races":
            return self._races(season)
        loaded = self.catalog.loaded_rounds(table, season)
        parts = [
            self._round_table(table, season, race)
            for race in self._due_races(table, season)
            if int(race["round"]) not in loaded
        ]
        return self._combine(table, season, parts)

    # -- which rounds

    def today(self) -> date:
        """The date that splits past rounds (fetched) from future ones (not yet)."""
        if self._today is None:
            return datetime.now(UTC).date()
        return self._today() if callable(self._today) else self._today

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, date) from the season's schedule: one API request, no warehouse access."""
        return sorted(
            (int(race["round"]), date.fromisoformat(race["date"])) for race in self.schedule(season)
        )

    def schedule(self, season: int) -> list[Json]:
        """The season's schedule from the API (fetched once per source instance, checked)."""
        if season not in self._schedules:
            races = self.client.schedule(season)
            for index, race in enumerate(races, start=1):
                _check_schedule_race(race, self.client.url(str(season)), index)
            self._schedules[season] = races
        return self._schedules[season]

    def _due_races(self, table: str, season: int) -> list[Json]:
        # Results exist only once the race has run; sprint results only in sprint weekends.
        today = self.today()
        return [
            race
            for race in self.schedule(season)
            if date.fromisoformat(race["date"]) < today
            and (table != "sprint_results" or "Sprint" in race)
        ]

    # -- ids

    def _allocate(self, table: str, column: str, count: int) -> list[int]:
        key = (table, column)
        start = max(self.catalog.max_id(table, column), self._issued.get(key, 0)) + 1
        self._issued[key] = start + count - 1
        return list(range(start, start + count))

    def race_ids(self, season: int) -> dict[int, int]:
        """Round -> race_id: warehouse ids of loaded rounds, new ids (in round order) for others."""
        if season not in self._race_id_maps:
            ids = dict(self.catalog.race_ids(season))
            new_rounds = sorted({int(r["round"]) for r in self.schedule(season)} - ids.keys())
            new_ids = self._allocate("races", "race_id", len(new_rounds))
            ids.update(zip(new_rounds, new_ids, strict=True))
            self._race_id_maps[season] = ids
        return self._race_id_maps[season]

    def ref_ids(self, table: str) -> dict[str, int]:
        """Ref (status text for ``status``) -> id, including ids this instance allocated."""
        if table not in self._ref_maps:
            self._ref_maps[table] = dict(self.catalog.ref_ids(table))
        return self._ref_maps[table]

    def _reference_items(self, table: str) -> list[Json]:
        if table not in self._ref_items:
            items = self.client.reference(table)
            ids = self.ref_ids(table)
            refs = {_opt(item, _API_REF_KEYS[table]) for item in items} - {None}
            new_refs = sorted(refs - ids.keys())
            new_ids = self._allocate(table, _id_column(table), len(new_refs))
            ids.update(zip(new_refs, new_ids, strict=True))
            self._ref_items[table] = items
        return self._ref_items[table]

    def _ref_id(self, table: str, ref: str | None, *, where: str, row: int) -> int | None:
        if ref is None:
            return None  # conform reports the missing required id with row and column
        ids = self.ref_ids(table)
        if ref not in ids:
            self._reference_items(table)  # a ref the warehouse lacks: allocate over the full list
        if ref not in ids:
            raise SourceError(
                SOURCE,
                table,
                f"{ref!r} is neither in the warehouse nor in the API's {table} list",
                where=where,
                row=row,
                column=_API_REF_KEYS[table],
            )
        return ids[ref]

    # -- reference tables

    def _entity_rows(self, table: str) -> list[Row]:
        items = self._reference_items(table)
        ids = self.ref_ids(table)
        build = {"drivers": _driver_row, "constructors": _constructor_row, "circuits": _circuit_row}
        return [build[table](item, ids.get(_opt(item, _API_REF_KEYS[table]))) for item in items]

    def _status_rows(self, items: list[Json]) -> list[Row]:
        # Keep the warehouse id of a known text; a new text keeps the API's statusId (Jolpica's ids
        # continue Ergast's) unless that id is taken, and then gets one above every id in use.
        known = self.catalog.ref_ids("status")
        taken = set(known.values())
        rows: list[Row] = []
        pending: list[Row] = []
        for item in items:
            text = _opt(item, "status")
            api_id = _opt(item, "statusId")
            row: Row = {"status_id": None, "status": text}
            if text in known:
                row["status_id"] = known[text]
            elif isinstance(api_id, str) and api_id.isdigit() and int(api_id) not in taken:
                row["status_id"] = int(api_id)
            else:
                pending.append(row)
            if row["status_id"] is not None:
                taken.add(row["status_id"])
            rows.append(row)
        start = max([self.catalog.max_id("status", "status_id"), *taken]) + 1
        for offset, row in enumerate(pending):
            row["status_id"] = start + offset
        return rows

    # -- races

    def _races(self, season: int) -> pa.Table:
        today = self.today()
        existing = self._existing("races", season)
        kept = existing.filter(pc.less(existing["date"], pa.scalar(today, pa.date32())))
        kept_rounds = set(kept["round"].to_pylist())
        race_ids = self.race_ids(season)
        where = self.client.url(str(season))
        schedule = [r for r in self.schedule(season) if int(r["round"]) not in kept_rounds]
        rows = [self._race_row(race, race_ids, where, i + 1) for i, race in enumerate(schedule)]
        fresh = self._conform(rows, "races", where)
        combined = pa.concat_tables([kept, fresh])
        schema.check_unique_key(
            combined, "races", source=SOURCE, where=f"{where} + warehouse rows of {season}"
        )
        return combined

    def _race_row(self, race: Json, race_ids: dict[int, int], where: str, row: int) -> Row:
        out: Row = {
            "race_id": race_ids[int(race["round"])],
            "year": _opt(race, "season"),
            "round": _opt(race, "round"),
            "circuit_id": self._ref_id(
                "circuits", _nested(race, "Circuit", "circuitId"), where=where, row=row
            ),
            "name": _opt(race, "raceName"),
            "date": _opt(race, "date"),
            "time": _opt(race, "time"),
            "url": _opt(race, "url"),
        }
        for column, keys in _SESSIONS.items():
            session = next((race[k] for k in keys if isinstance(race.get(k), dict)), None)
            out[f"{column}_date"] = _opt(session, "date")
            out[f"{column}_time"] = _opt(session, "time")
        return out

    # -- race-scoped tables, one round at a time

    def _round_table(self, table: str, season: int, race: Json) -> pa.Table:
        round_ = int(race["round"])
        race_id = self.race_ids(season)[round_]
        if table == "constructor_results":
            rows, where = self._constructor_results_rows(season, race, race_id)
            return self._conform(rows, table, where)
        resource, payload_key = _ROUND_TABLES[table]
        where = self.client.url(f"{season}/{round_}/{resource}")
        payload = self._payload(season, round_, resource)
        entries = payload[payload_key] if payload is not None else []
        if table == "lap_times":
            rows = self._lap_rows(entries, race_id, where)
        elif table == "pit_stops":
            rows = self._pit_stop_rows(entries, race_id, where)
        else:
            build = {
                "results": functools.partial(self._result_row, table="results"),
                "sprint_results": functools.partial(self._result_row, table="sprint_results"),
                "qualifying": self._qualifying_row,
                "driver_standings": self._driver_standing_row,
                "constructor_standings": self._constructor_standing_row,
            }[table]
            ids = self._allocate(table, _ROW_IDS[table], len(entries))
            rows = [
                build(entry, race_id, row_id, where, i + 1)
                for i, (entry, row_id) in enumerate(zip(entries, ids, strict=True))
            ]
            # _conform keeps only contract columns, so sprint rows simply lose rank and speed.
        return self._conform(rows, table, where)

    def _payload(self, season: int, round_: int, resource: str) -> Json | None:
        key = (season, round_, resource)
        if key in self._payloads:
            return self._payloads[key]
        if resource in ("driverStandings", "constructorStandings"):
            payload = self.client.standings(season, round_, resource)
        else:
            payload = self.client.race(season, round_, resource)
        if payload is not None and (
            str(payload.get("season")) != str(season) or str(payload.get("round")) != str(round_)
        ):
            raise SourceError(
                SOURCE,
                _table_of(resource),
                f"asked for {season} round {round_}, got season {payload.get('season')!r} "
                f"round {payload.get('round')!r}",
                where=self.client.url(f"{season}/{round_}/{resource}"),
            )
        # Only results and sprint are read twice (constructor_results derives from them).
        if resource in ("results", "sprint"):
            self._payloads[key] = payload
        return payload

    def _result_row(
        self, entry: Json, race_id: int, result_id: int, where: str, row: int, table: str
    ) -> Row:
        position_text = _opt(entry, "positionText")
        # The API's `position` is the classification order; Ergast's `position` is null for
        # unclassified entries (positionText R, D, E, W, F, N).
        order = _opt(entry, "position")
        classified = isinstance(position_text, str) and position_text.isdigit()
        return {
            "result_id": result_id,
            "race_id": race_id,
            "driver_id": self._driver(entry, where, row),
            "constructor_id": self._constructor(entry, where, row),
            "number": _opt(entry, "number"),
            "grid": _opt(entry, "grid"),
            "position": order if classified else None,
            "position_text": position_text,
            "position_order": order,
            "points": _opt(entry, "points"),
            "laps": _opt(entry, "laps"),
            "time": _nested(entry, "Time", "time"),
            "milliseconds": _nested(entry, "Time", "millis"),
            "fastest_lap": _nested(entry, "FastestLap", "lap"),
            "rank": _nested(entry, "FastestLap", "rank"),
            "fastest_lap_time": _nested(entry, "FastestLap", "Time", "time"),
            "fastest_lap_speed": _nested(entry, "FastestLap", "AverageSpeed", "speed"),
            "status_id": self._status_id(_opt(entry, "status"), table, where, row),
        }

    def _qualifying_row(
        self, entry: Json, race_id: int, qualify_id: int, where: str, row: int
    ) -> Row:
        return {
            "qualify_id": qualify_id,
            "race_id": race_id,
            "driver_id": self._driver(entry, where, row),
            "constructor_id": self._constructor(entry, where, row),
            "number": _opt(entry, "number"),
            "position": _opt(entry, "position"),
            "q1": _opt(entry, "Q1"),
            "q2": _opt(entry, "Q2"),
            "q3": _opt(entry, "Q3"),
        }

    def _driver_standing_row(
        self, entry: Json, race_id: int, standings_id: int, where: str, row: int
    ) -> Row:
        return {
            "driver_standings_id": standings_id,
            "race_id": race_id,
            "driver_id": self._driver(entry, where, row),
            **_standing_values(entry),
        }

    def _constructor_standing_row(
        self, entry: Json, race_id: int, standings_id: int, where: str, row: int
    ) -> Row:
        return {
            "constructor_standings_id": standings_id,
            "race_id": race_id,
            "constructor_id": self._constructor(entry, where, row),
            **_standing_values(entry),
        }

    def _lap_rows(self, laps: list[Json], race_id: int, where: str) -> list[Row]:
        rows: list[Row] = []
        for lap in laps:
            for timing in lap.get("Timings") or []:
                index = len(rows) + 1
                lap_time = _opt(timing, "time")
                rows.append(
                    {
                        "race_id": race_id,
                        "driver_id": self._ref_id(
                            "drivers", _opt(timing, "driverId"), where=where, row=index
                        ),
                        "lap": _opt(lap, "number"),
                        "position": _opt(timing, "position"),
                        "time": lap_time,
                        # The API has no lap milliseconds; Ergast's always equal the parsed time.
                        "milliseconds": _duration_ms(lap_time, "lap_times", where, index),
                    }
                )
        return rows

    def _pit_stop_rows(self, stops: list[Json], race_id: int, where: str) -> list[Row]:
        rows: list[Row] = []
        for index, stop in enumerate(stops, start=1):
            duration = _opt(stop, "duration")
            rows.append(
                {
                    "race_id": race_id,
                    "driver_id": self._ref_id(
                        "drivers", _opt(stop, "driverId"), where=where, row=index
                    ),
                    "stop": _opt(stop, "stop"),
                    "lap": _opt(stop, "lap"),
                    "time": _opt(stop, "time"),
                    "duration": duration,
                    "milliseconds": _duration_ms(duration, "pit_stops", where, index),
                }
            )
        return rows

    def _constructor_results_rows(
        self, season: int, race: Json, race_id: int
    ) -> tuple[list[Row], str]:
        round_ = int(race["round"])
        where = self.client.url(f"{season}/{round_}/results")
        results = self._payload(season, round_, "results")
        if results is None:
            return [], where  # not published yet: leave the round unloaded so it is fetched again
        entries = list(results["Results"])
        if "Sprint" in race:
            sprint = self._payload(season, round_, "sprint")
            entries += sprint["SprintResults"] if sprint is not None else []
            where += " + sprint.json"
        points: dict[int, float] = {}
        for index, entry in enumerate(entries, start=1):
            constructor_id = self._constructor(entry, where, index)
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
        ids = self._allocate("constructor_results", "constructor_results_id", len(points))
        rows = [
            {
                "constructor_results_id": row_id,
                "race_id": race_id,
                "constructor_id": constructor_id,
                "points": total,
                "status": None,
            }
            for row_id, (constructor_id, total) in zip(ids, points.items(), strict=True)
        ]
        return rows, where

    # -- id lookups of one entry

    def _driver(self, entry: Json, where: str, row: int) -> int | None:
        return self._ref_id("drivers", _nested(entry, "Driver", "driverId"), where=where, row=row)

    def _constructor(self, entry: Json, where: str, row: int) -> int | None:
        ref = _nested(entry, "Constructor", "constructorId")
        return self._ref_id("constructors", ref, where=where, row=row)

    def _status_id(self, text: str | None, table: str, where: str, row: int) -> int | None:
        if text is None:
            return None
        # Unlike refs, an unknown status is an error: its id must come from the status table.
        status_ids = self.ref_ids("status")
        if text not in status_ids:
            raise SourceError(
                SOURCE,
                table,
                f"unknown status {text!r}: not in the warehouse's status table "
                "(load the status reference table first)",
                where=where,
                row=row,
                column="status_id",
            )
        return status_ids[text]

    # -- assembling

    def _existing(self, table: str, season: int) -> pa.Table:
        rows = self.catalog.existing_rows(table, season)
        return schema.conform(
            rows, table, source=SOURCE, where=f"warehouse {TABLES[table].qualified_name} {season}"
        )

    def _combine(self, table: str, season: int, parts: list[pa.Table]) -> pa.Table:
        combined = pa.concat_tables([self._existing(table, season), *parts])
        schema.check_unique_key(
            combined,
            table,
            source=SOURCE,
            where=f"warehouse rows of {season} + {len(parts)} rounds fetched",
        )
        return combined

    @staticmethod
    def _conform(rows: list[Row], table: str, where: str) -> pa.Table:
        columns = TABLES[table].column_names
        data = pa.table({c: pa.array([row.get(c) for row in rows]) for c in columns})
        return schema.conform(data, table, source=SOURCE, where=where)


# --------------------------------------------------------------------------- pure helpers


def _check_schedule_race(race: Json, where: str, row: int) -> None:
    # Round and date drive which rounds are fetched, so they must parse before anything else.
    try:
        int(race["round"])
        date.fromisoformat(race["date"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(
            SOURCE,
            "races",
            f"schedule race without a valid round and date: {exc!r}",
            where=where,
            row=row,
        ) from exc


def _id_column(table: str) -> str:
    return {"drivers": "driver_id", "constructors": "constructor_id", "circuits": "circuit_id"}[
        table
    ]


def _table_of(resource: str) -> str:
    return next(t for t, (r, _) in _ROUND_TABLES.items() if r == resource)


def _driver_row(item: Json, driver_id: int | None) -> Row:
    return {
        "driver_id": driver_id,
        "driver_ref": _opt(item, "driverId"),
        "number": _opt(item, "permanentNumber"),
        "code": _opt(item, "code"),
        "forename": _opt(item, "givenName"),
        "surname": _opt(item, "familyName"),
        "dob": _opt(item, "dateOfBirth"),
        "nationality": _opt(item, "nationality"),
        "url": _opt(item, "url"),
    }


def _constructor_row(item: Json, constructor_id: int | None) -> Row:
    return {
        "constructor_id": constructor_id,
        "constructor_ref": _opt(item, "constructorId"),
        "name": _opt(item, "name"),
        "nationality": _opt(item, "nationality"),
        "url": _opt(item, "url"),
    }


def _circuit_row(item: Json, circuit_id: int | None) -> Row:
    return {
        "circuit_id": circuit_id,
        "circuit_ref": _opt(item, "circuitId"),
        "name": _opt(item, "circuitName"),
        "location": _nested(item, "Location", "locality"),
        "country": _nested(item, "Location", "country"),
        "lat": _nested(item, "Location", "lat"),
        "lng": _nested(item, "Location", "long"),
        "alt": None,  # the API has no altitude; only the CSV dump carries it
        "url": _opt(item, "url"),
    }


def _standing_values(entry: Json) -> Row:
    return {
        "points": _opt(entry, "points"),
        "position": _opt(entry, "position"),
        "position_text": _opt(entry, "positionText"),
        "wins": _opt(entry, "wins"),
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
    value = _opt(entry, "points")
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
