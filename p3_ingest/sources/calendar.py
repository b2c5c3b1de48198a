"""Which races have happened but are not loaded yet: the logic behind the new-race sensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from .source import ErgastSource


@dataclass(frozen=True, order=True)
class RaceRef:
    """A race by (season, round); orders chronologically. Text form ``2024-22`` is the sensor cursor."""

    season: int
    round: int

    def __str__(self) -> str:
        return f"{self.season}-{self.round}"

    @classmethod
    def parse(cls, text: str) -> RaceRef:
        season, _, round_ = text.partition("-")
        return cls(int(season), int(round_))


def calendar_of(races: pa.Table) -> list[tuple[int, date]]:
    """(round, date) of each race in a contract ``races`` table, in round order."""
    pairs = zip(races["round"].to_pylist(), races["date"].to_pylist(), strict=True)
    return sorted((int(round_), race_date) for round_, race_date in pairs)


def latest_completed_race(
    source: ErgastSource, seasons: Sequence[int], today: date
) -> RaceRef | None:
    """The most recent race of ``seasons`` dated before ``today`` (results are final the day after)."""
    for season in sorted(seasons, reverse=True):
        done = [rnd for rnd, race_date in source.calendar(season) if race_date < today]
        if done:
            return RaceRef(season, max(done))
    return None


def seasons_to_reload(latest: RaceRef | None, cursor: RaceRef | None) -> list[int]:
    """Seasons to (re)load so the warehouse catches up from ``cursor`` to ``latest``.

    Nothing when there is no completed race or nothing newer than the cursor. Without a cursor
    (the sensor's first tick) only the latest race's season: history is loaded by a backfill.
    """
    if latest is None or (cursor is not None and latest <= cursor):
        return []
    first = latest.season if cursor is None else cursor.season
    # A cursor in an earlier season means its remaining rounds are loaded as well.
    return list(range(first, latest.season + 1))
