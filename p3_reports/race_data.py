"""Everything a post-race report shows, read from the published snapshot (and the ML snapshot
when there is one) with bound parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from p3_common.snapshot import open_snapshot

RACE_KEY = re.compile(r"^(\d{4})-(\d{1,2})$")


class ReportError(ValueError):
    """A report that cannot be made: the race or season is not in the snapshot."""


@dataclass(frozen=True)
class RaceInfo:
    """The race: where, when, which round of how many."""

    race_id: int
    season: int
    round: int
    race_name: str
    race_date: str
    circuit_name: str
    location: str
    country: str
    rounds_in_season: int

    @property
    def key(self) -> str:
        """``season-round``, e.g. ``2019-20``."""
        return f"{self.season}-{self.round}"


@dataclass
class RaceData:
    """The tables of one race; an empty frame means the snapshot has no such data for it."""

    race: RaceInfo
    build_id: str
    results: pd.DataFrame
    laps: pd.DataFrame
    pit_stops: pd.DataFrame
    standings_before: pd.DataFrame
    standings_after: pd.DataFrame
    constructor_standings: pd.DataFrame
    predictions: pd.DataFrame
    lap_anomalies: pd.DataFrame
    pit_anomalies: pd.DataFrame

    @property
    def winner(self) -> str | None:
        """The winner's name, if the race has a classified winner."""
        won = self.results[self.results["position_order"] == 1]
        return str(won["driver_name"].iloc[0]) if len(won) else None

    @property
    def laps_completed(self) -> int:
        """Race distance in laps: the most any car completed."""
        return int(self.results["laps"].max()) if len(self.results) else 0

    @property
    def teams(self) -> dict[str, str]:
        """Driver ref -> constructor ref (for team colours)."""
        return dict(zip(self.results["driver_ref"], self.results["constructor_ref"], strict=True))


def parse_race_key(key: str) -> tuple[int, int]:
    """``"2019-20"`` -> (2019, 20); ReportError otherwise."""
    match = RACE_KEY.match(key.strip())
    if not match:
        raise ReportError(f"race {key!r} is not '<season>-<round>', e.g. '2019-20'")
    return int(match.group(1)), int(match.group(2))


def newest_race(con: duckdb.DuckDBPyConnection) -> str:
    """``season-round`` of the newest race with results in the snapshot."""
    row = con.execute(
        "select season, round from marts.fct_race_results order by season desc, round desc limit 1"
    ).fetchone()
    if row is None:
        raise ReportError("the snapshot has no race results")
    return f"{row[0]}-{row[1]}"


def races_after(snapshot: Path, after: str | None) -> list[str]:
    """``season-round`` of every race with results newer than ``after``, oldest first; without
    ``after``, only the newest race (a first publish does not report the whole history)."""
    with open_snapshot(snapshot) as con:
        if after is None:
            return [newest_race(con)]
        season, round_ = parse_race_key(after)
        rows = con.execute(
            "select distinct season, round from marts.fct_race_results"
            " where season > $season or (season = $season and round > $round)"
            " order by season, round",
            {"season": season, "round": round_},
        ).fetchall()
    return [f"{s}-{r}" for s, r in rows]


def load_race(snapshot: Path, key: str, ml_snapshot: Path | None = None) -> RaceData:
    """The report's tables for race ``key`` (``season-round``, or ``latest``)."""
    con = open_snapshot(snapshot)
    try:
        if key == "latest":
            key = newest_race(con)
        season, round_ = parse_race_key(key)
        race = _race(con, season, round_)
        build_id = _build_id(con)
        frames = {name: _frame(con, sql, race.race_id) for name, sql in _RACE_SQL.items()}
        frames["standings_before"] = _frame(
            con, _STANDINGS_BEFORE, {"season": season, "round": round_}
        )
    finally:
        con.close()
    ml = _ml_frames(ml_snapshot, race.race_id)
    return RaceData(race=race, build_id=build_id, **frames, **ml)


def _race(con: duckdb.DuckDBPyConnection, season: int, round_: int) -> RaceInfo:
    row = con.execute(
        "select race_id, season, round, race_name, cast(race_date as varchar), circuit_name,"
        " location, country, rounds_in_season from marts.dim_races"
        " where season = $season and round = $round",
        {"season": season, "round": round_},
    ).fetchone()
    if row is None:
        raise ReportError(f"race {season}-{round_} is not in the published snapshot")
    return RaceInfo(*row)


def _build_id(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("select build_id from p3_meta.build").fetchone()
    return str(row[0]) if row else "unknown"


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: object) -> pd.DataFrame:
    bound = params if isinstance(params, dict) else {"race_id": params}
    return con.execute(sql, bound).df()


_RESULTS = """
    select
        results.position_order,
        results.position_text,
        drivers.driver_ref,
        drivers.full_name as driver_name,
        drivers.driver_code,
        constructors.constructor_ref,
        constructors.constructor_name,
        results.grid,
        results.laps,
        results.race_time,
        results.status,
        results.points,
        results.positions_gained,
        results.is_classified,
        results.fastest_lap_time_ms,
        results.driver_id
    from marts.fct_race_results as results
    inner join marts.dim_drivers as drivers on drivers.driver_id = results.driver_id
    inner join marts.dim_constructors as constructors
        on constructors.constructor_id = results.constructor_id
    where results.race_id = $race_id
    order by results.position_order
"""
_LAPS = """
    select drivers.driver_ref, laps.lap, laps.position, laps.lap_time_ms,
        laps.is_pit_in_lap, laps.is_pit_out_lap, laps.is_first_lap
    from marts.fct_lap_times as laps
    inner join marts.dim_drivers as drivers on drivers.driver_id = laps.driver_id
    where laps.race_id = $race_id
    order by drivers.driver_ref, laps.lap
"""
_PIT_STOPS = """
    select drivers.driver_ref, stops.stop, stops.lap, stops.duration_ms, stops.is_red_flag_stop
    from marts.fct_pit_stops as stops
    inner join marts.dim_drivers as drivers on drivers.driver_id = stops.driver_id
    where stops.race_id = $race_id
    order by stops.lap, drivers.driver_ref
"""
_STANDINGS_AFTER = """
    select standings.position, drivers.driver_ref, drivers.full_name as driver_name,
        standings.points, standings.wins
    from marts.fct_driver_standings as standings
    inner join marts.dim_drivers as drivers on drivers.driver_id = standings.driver_id
    where standings.race_id = $race_id
    order by standings.position
"""
_STANDINGS_BEFORE = """
    select standings.position, drivers.driver_ref, drivers.full_name as driver_name,
        standings.points, standings.wins
    from marts.fct_driver_standings as standings
    inner join marts.dim_drivers as drivers on drivers.driver_id = standings.driver_id
    where standings.season = $season and standings.round = $round - 1
    order by standings.position
"""
_CONSTRUCTOR_STANDINGS = """
    select standings.position, constructors.constructor_ref, constructors.constructor_name,
        standings.points, standings.wins
    from marts.fct_constructor_standings as standings
    inner join marts.dim_constructors as constructors
        on constructors.constructor_id = standings.constructor_id
    where standings.race_id = $race_id
    order by standings.position
"""
_RACE_SQL = {
    "results": _RESULTS,
    "laps": _LAPS,
    "pit_stops": _PIT_STOPS,
    "standings_after": _STANDINGS_AFTER,
    "constructor_standings": _CONSTRUCTOR_STANDINGS,
}
_ML_SQL = {
    "predictions": (
        "select driver_name, constructor_name, grid_position, predicted_rank, actual_rank,"
        " win_prob, podium_prob from ml.race_predictions where race_id = $race_id"
        " order by predicted_rank"
    ),
    "lap_anomalies": (
        "select driver_id, lap, lap_time_ms, expected_ms, delta_ms, robust_z, direction,"
        " is_field_wide from ml.lap_time_anomalies where race_id = $race_id"
        " order by abs(robust_z) desc limit 15"
    ),
    "pit_anomalies": (
        "select driver_id, stop, lap, duration_ms, race_median_ms, delta_ms, robust_z, direction"
        " from ml.pit_stop_anomalies where race_id = $race_id order by abs(robust_z) desc limit 15"
    ),
}


def _ml_frames(path: Path | None, race_id: int) -> dict[str, pd.DataFrame]:
    """The ML tables of the race; empty frames when there is no ML snapshot (or no ML row)."""
    empty = {name: pd.DataFrame() for name in _ML_SQL}
    if path is None or not Path(path).exists():
        return empty
    con = open_snapshot(path)
    try:
        return {name: _frame(con, sql, race_id) for name, sql in _ML_SQL.items()}
    finally:
        con.close()
