"""``DemoSource``: the seeded synthetic championship behind the ``ErgastSource`` protocol.

It builds the world once, lazily, and each season's tables on first request, caching them.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from p3_common.ergast import TABLES

from ..calendar import calendar_of
from ..schema import conform, empty_table
from ..source import SourceKind
from .tables import SOURCE, generate_season, reference_columns
from .world import DemoConfig, World, WorldBuilder


class DemoSource:
    """A deterministic synthetic championship behind the ``ErgastSource`` protocol.

    Defaults: seasons 2020-2024, 12 races each, 10 teams of 2 drivers, seed 2024 (the platform's
    ``P3_DEMO_SEED`` default). The same configuration always yields byte-identical tables, and each
    season depends only on the seed and the seasons before it, so a season generated alone equals
    that season generated with the rest.

    Every name is invented and every url is under ``https://example.invalid``. Ids sit above the
    real Ergast ranges: circuits and constructors from 901, drivers from 9001, ``race_id`` is
    ``year * 100 + round`` and row ids are ``race_id * 100 + n``. Status ids are the real ones.

    Scoring is the 2019-2024 system for every season: 25-18-15-12-10-8-6-4-2-1 for the race plus
    one point for the fastest lap if its driver finishes in the top 10 (``fastest_lap_point``), and
    8-7-6-5-4-3-2-1 for sprints, held at ``sprints_per_season`` rounds of every season from
    ``first_sprint_season`` on. Sprint points count in standings and constructor results.
    """

    name: SourceKind = SOURCE

    def __init__(
        self,
        seed: int = 2024,
        *,
        first_season: int = 2020,
        num_seasons: int = 5,
        races_per_season: int = 12,
        teams: int = 10,
        first_sprint_season: int = 2021,
        sprints_per_season: int = 3,
        fastest_lap_point: bool = True,
    ) -> None:
        self.config = DemoConfig(
            seed=seed,
            first_season=first_season,
            num_seasons=num_seasons,
            races_per_season=races_per_season,
            teams=teams,
            first_sprint_season=first_sprint_season,
            sprints_per_season=sprints_per_season,
            fastest_lap_point=fastest_lap_point,
        )
        self._world: World | None = None
        self._seasons: dict[int, dict[str, pa.Table]] = {}

    def seasons(self) -> list[int]:
        """The configured seasons, ascending."""
        return self.config.years

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, date) of the season's synthetic races."""
        return calendar_of(self.season_table("races", season))

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        """The generator fills every contract column."""
        return ()

    def reference_table(self, table: str) -> pa.Table:
        """Circuits, constructors, drivers, seasons or status, conformed to the contract."""
        _check_table(table, season_scoped=False)
        columns = reference_columns(self.config, self._get_world(), table)
        return conform(pa.table(columns), table, source=SOURCE, where=f"seed {self.config.seed}")

    def season_table(self, table: str, season: int) -> pa.Table:
        """One season's rows of a race-scoped table; zero rows for a season outside the range."""
        _check_table(table, season_scoped=True)
        if season not in self.config.years:
            return empty_table(table)
        if season not in self._seasons:
            self._seasons[season] = generate_season(self.config, self._get_world(), season)
        return self._seasons[season][table]

    def _get_world(self) -> World:
        # Cheap, but built lazily so constructing a source does no work.
        if self._world is None:
            self._world = WorldBuilder(self.config).build()
        return self._world


def _check_table(table: str, *, season_scoped: bool) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown Ergast table {table!r}; expected one of {sorted(TABLES)}")
    if TABLES[table].season_scoped != season_scoped:
        other = "season_table()" if TABLES[table].season_scoped else "reference_table()"
        raise ValueError(
            f"{table!r} is {'not ' if season_scoped else ''}season-scoped; use {other}"
        )
