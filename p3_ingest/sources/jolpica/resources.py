"""The Jolpica API's lists (resources), stated once: which contract table each feeds and where its
rows sit in ``MRData``; every other resource lookup of the package derives from ``RESOURCES``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCE = "jolpica"

Json = dict[str, Any]  # one API object, as decoded from JSON


@dataclass(frozen=True)
class Resource:
    """One API list: where its rows sit in ``MRData`` and how pages of it merge.

    ``payload_key`` names the row list inside each list item (``Results`` inside a Race); flat
    lists (drivers, seasons, ...) have none. ``table`` is the contract table the rows feed, for
    error messages.

    Where a list is fetched follows from its shape: a payload inside the Races of a ``RaceTable``
    or the lists of a ``StandingsTable`` is fetched one round at a time (``round_path``); the flat
    Races list is a season's schedule; the other flat lists are whole reference lists.
    """

    name: str
    table: str
    table_key: str
    list_key: str
    payload_key: str | None = None

    @property
    def per_round(self) -> bool:
        """Fetched one round at a time: race results of some kind, or standings after a round."""
        return self.payload_key is not None

    @property
    def standings(self) -> bool:
        """A standings list (``StandingsTable``) rather than a race payload (``RaceTable``)."""
        return self.table_key == "StandingsTable"

    @property
    def reference(self) -> bool:
        """A whole reference list (drivers, constructors, circuits, seasons, status)."""
        return self.payload_key is None and self.table_key != "RaceTable"


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("races", "races", "RaceTable", "Races"),
        Resource("results", "results", "RaceTable", "Races", "Results"),
        Resource("sprint", "sprint_results", "RaceTable", "Races", "SprintResults"),
        Resource("qualifying", "qualifying", "RaceTable", "Races", "QualifyingResults"),
        Resource("laps", "lap_times", "RaceTable", "Races", "Laps"),
        Resource("pitstops", "pit_stops", "RaceTable", "Races", "PitStops"),
        Resource(
            "driverStandings",
            "driver_standings",
            "StandingsTable",
            "StandingsLists",
            "DriverStandings",
        ),
        Resource(
            "constructorStandings",
            "constructor_standings",
            "StandingsTable",
            "StandingsLists",
            "ConstructorStandings",
        ),
        Resource("drivers", "drivers", "DriverTable", "Drivers"),
        Resource("constructors", "constructors", "ConstructorTable", "Constructors"),
        Resource("circuits", "circuits", "CircuitTable", "Circuits"),
        Resource("seasons", "seasons", "SeasonTable", "Seasons"),
        Resource("status", "status", "StatusTable", "Status"),
    )
}

ROUND_RESOURCES = tuple(r.name for r in RESOURCES.values() if r.per_round and not r.standings)
STANDINGS_RESOURCES = tuple(r.name for r in RESOURCES.values() if r.standings)
REFERENCE_RESOURCES = tuple(r.name for r in RESOURCES.values() if r.reference)

# Contract table -> (API resource, payload list inside the Race / StandingsList), per-round tables.
ROUND_TABLES: dict[str, tuple[str, str]] = {
    r.table: (r.name, r.payload_key) for r in RESOURCES.values() if r.payload_key is not None
}


def round_path(season: int, round_: int, resource: str) -> str:
    """API path of one round's list, e.g. ``2023/5/results``."""
    return f"{season}/{round_}/{resource}"
