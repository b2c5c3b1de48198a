"""Request planning for the ``jolpica`` source: the season's schedule (what the calendar needs),
which rounds a table load fetches, and which API resource and URL serve one round of a table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from ..errors import SourceError
from .client import JolpicaClient
from .resources import RESOURCES, SOURCE, STANDINGS_RESOURCES, Json, round_path


class RoundPlanner:
    """The requests of one source instance: schedules fetched once, round payloads checked.

    ``today`` (a date, a callable returning one, or None for the current UTC date) splits past
    rounds, which are fetched, from future ones, which are not yet.
    """

    def __init__(
        self, client: JolpicaClient, today: date | Callable[[], date] | None = None
    ) -> None:
        self.client = client
        self._today = today
        self._schedules: dict[int, list[Json]] = {}
        self._payloads: dict[tuple[int, int, str], Json | None] = {}

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

    def due_races(self, table: str, season: int) -> list[Json]:
        """The season's races whose ``table`` rows may exist by now."""
        # Results exist only once the race has run; sprint results only in sprint weekends.
        today = self.today()
        return [
            race
            for race in self.schedule(season)
            if date.fromisoformat(race["date"]) < today
            and (table != "sprint_results" or "Sprint" in race)
        ]

    def round_url(self, season: int, round_: int, resource: str) -> str:
        """Absolute URL of one round's ``resource``, e.g. ``.../2023/5/results.json``."""
        return self.client.url(round_path(season, round_, resource))

    def payload(self, season: int, round_: int, resource: str) -> Json | None:
        """One round's Race (or StandingsList) of ``resource``; None if the API has none yet."""
        key = (season, round_, resource)
        if key in self._payloads:
            return self._payloads[key]
        if resource in STANDINGS_RESOURCES:
            payload = self.client.standings(season, round_, resource)
        else:
            payload = self.client.race(season, round_, resource)
        if payload is not None and (
            str(payload.get("season")) != str(season) or str(payload.get("round")) != str(round_)
        ):
            raise SourceError(
                SOURCE,
                RESOURCES[resource].table,
                f"asked for {season} round {round_}, got season {payload.get('season')!r} "
                f"round {payload.get('round')!r}",
                where=self.round_url(season, round_, resource),
            )
        # Only results and sprint are read twice (constructor_results derives from them).
        if resource in ("results", "sprint"):
            self._payloads[key] = payload
        return payload


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
