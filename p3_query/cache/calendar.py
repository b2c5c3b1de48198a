"""Points of the race calendar ("phases") that query popularity is learned and predicted by."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PHASES = ("race_weekend", "post_race", "pre_race", "midweek", "off_season")
_DAY = 86400.0


@dataclass(frozen=True)
class RaceCalendar:
    """Race days (UTC midnight timestamps, sorted) and the phase any moment falls in.

    - ``race_weekend``: the two days before a race and race day (practice, qualifying, race);
    - ``post_race``: the two days after (results published, analysts dig in);
    - ``pre_race``: three to six days before the next race;
    - ``off_season``: more than 21 days from any race (winter break);
    - ``midweek``: the rest.
    """

    race_days: tuple[float, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, dates: Iterable[date | datetime | str]) -> RaceCalendar:
        """From race dates (``date``, ``datetime`` or ISO strings)."""
        days = set()
        for value in dates:
            if isinstance(value, str):
                value = date.fromisoformat(value[:10])
            if isinstance(value, datetime):
                value = value.date()
            days.add(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
        return cls(tuple(sorted(days)))

    @classmethod
    def from_snapshot(cls, snapshot: Path) -> RaceCalendar:
        """Race dates of a published snapshot (``marts.dim_races``); empty if it has none.

        No file at ``snapshot`` is an empty calendar; a file that is not a P3 snapshot raises
        ``NotASnapshot``.
        """
        import duckdb

        from p3_common.snapshot import SnapshotMissing, open_snapshot

        try:
            con = open_snapshot(snapshot)
        except SnapshotMissing:
            return cls()
        with con:
            try:
                rows = con.execute("select distinct race_date from marts.dim_races").fetchall()
            except duckdb.Error:
                return cls()
        return cls.of(r[0] for r in rows if r[0] is not None)

    def phase_of(self, ts: float) -> str:
        """The phase of the calendar that the UNIX time ``ts`` falls in."""
        if not self.race_days:
            return "midweek"
        i = bisect.bisect_left(self.race_days, ts - _DAY + 1)  # first race day not yet over
        upcoming = self.race_days[i] if i < len(self.race_days) else None
        previous = self.race_days[i - 1] if i > 0 else None
        to_next = (upcoming - ts) / _DAY if upcoming is not None else None
        since_last = (ts - previous) / _DAY - 1 if previous is not None else None
        if to_next is not None and to_next <= 2:
            return "race_weekend"
        if since_last is not None and since_last < 2:
            return "post_race"
        if (to_next is None or to_next > 21) and (since_last is None or since_last > 21):
            return "off_season"
        if to_next is not None and to_next <= 6:
            return "pre_race"
        return "midweek"

    def phase_after(self, ts: float, hours: float = 24) -> str:
        """The phase ``hours`` after ``ts``: what warming should prepare for."""
        return self.phase_of(ts + hours * 3600)

    @staticmethod
    def at(day: date, hour: int = 12) -> float:
        """UNIX time of ``hour`` UTC on ``day`` (a helper for workloads and tests)."""
        return (
            datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)
        ).timestamp()
