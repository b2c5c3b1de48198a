"""The ``jolpica`` source: Ergast contract tables from the Jolpica API, fetched round by round.

``JolpicaSource`` ties the package together: ``planning`` says which rounds and resources to fetch,
``client`` fetches them, ``mapping`` turns the JSON into rows and ``ids`` gives them warehouse ids.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from p3_common.ergast import REFERENCE_TABLES, SEASON_TABLES, TABLES

from .. import schema
from ..source import SourceKind, WarehouseCatalog
from . import mapping
from .client import JolpicaClient
from .ids import ROW_IDS, WarehouseIds
from .planning import RoundPlanner
from .resources import ROUND_TABLES, SOURCE, Json


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

    name: SourceKind = "jolpica"

    def __init__(
        self,
        client: JolpicaClient,
        catalog: WarehouseCatalog,
        *,
        today: date | Callable[[], date] | None = None,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self.plan = RoundPlanner(client, today)
        self.ids = WarehouseIds(catalog, client)

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
            rows = [mapping.season_row(s) for s in self.client.reference("seasons")]
        elif table == "status":
            rows = self.ids.status_rows(self.client.reference("status"))
        else:
            items = self.ids.reference_items(table)
            rows = mapping.entity_rows(table, items, self.ids.ref_ids(table))
        return mapping.conform(rows, table, self.client.url(table))

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
            for race in self.plan.due_races(table, season)
            if int(race["round"]) not in loaded
        ]
        return self._combine(table, season, parts)

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, date) from the season's schedule: one API request, no warehouse access."""
        return self.plan.calendar(season)

    # -- races

    def _race_ids(self, season: int) -> dict[int, int]:
        return self.ids.race_ids(season, self.plan.schedule(season))

    def _races(self, season: int) -> pa.Table:
        today = self.plan.today()
        existing = self._existing("races", season)
        kept = existing.filter(pc.less(existing["date"], pa.scalar(today, pa.date32())))
        kept_rounds = set(kept["round"].to_pylist())
        race_ids = self._race_ids(season)
        where = self.client.url(str(season))
        schedule = [r for r in self.plan.schedule(season) if int(r["round"]) not in kept_rounds]
        rows = [
            mapping.race_row(self.ids, race, race_ids, where, i + 1)
            for i, race in enumerate(schedule)
        ]
        fresh = mapping.conform(rows, "races", where)
        combined = pa.concat_tables([kept, fresh])
        schema.check_unique_key(
            combined, "races", source=SOURCE, where=f"{where} + warehouse rows of {season}"
        )
        return combined

    # -- race-scoped tables, one round at a time

    def _round_table(self, table: str, season: int, race: Json) -> pa.Table:
        round_ = int(race["round"])
        race_id = self._race_ids(season)[round_]
        if table == "constructor_results":
            return self._constructor_results(season, race, race_id)
        resource, payload_key = ROUND_TABLES[table]
        where = self.plan.round_url(season, round_, resource)
        payload = self.plan.payload(season, round_, resource)
        entries = payload[payload_key] if payload is not None else []
        if table == "lap_times":
            rows = mapping.lap_rows(self.ids, entries, race_id, where)
        elif table == "pit_stops":
            rows = mapping.pit_stop_rows(self.ids, entries, race_id, where)
        else:
            build = mapping.ENTRY_ROWS[table]
            ids = self.ids.allocate(table, ROW_IDS[table], len(entries))
            rows = [
                build(self.ids, entry, race_id, row_id, where, i + 1)
                for i, (entry, row_id) in enumerate(zip(entries, ids, strict=True))
            ]
            # conform keeps only contract columns, so sprint rows simply lose rank and speed.
        return mapping.conform(rows, table, where)

    def _constructor_results(self, season: int, race: Json, race_id: int) -> pa.Table:
        round_ = int(race["round"])
        where = self.plan.round_url(season, round_, "results")
        results = self.plan.payload(season, round_, "results")
        if results is None:
            # not published yet: leave the round unloaded so it is fetched again
            return mapping.conform([], "constructor_results", where)
        entries = list(results["Results"])
        if "Sprint" in race:
            sprint = self.plan.payload(season, round_, "sprint")
            entries += sprint["SprintResults"] if sprint is not None else []
            where += " + sprint.json"
        points = mapping.constructor_points(self.ids, entries, where)
        ids = self.ids.allocate("constructor_results", ROW_IDS["constructor_results"], len(points))
        rows = mapping.constructor_results_rows(points, race_id, ids)
        return mapping.conform(rows, "constructor_results", where)

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
