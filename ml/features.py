"""Race-entry features as of the start of each race, computed only from earlier races (no leakage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from p3_common.ergast import RACE_POINTS

# Modern points by finishing position: used as an era-independent "form" signal, so that a 1998 win
# and a 2024 win weigh the same.
MODERN_POINTS = dict(enumerate(RACE_POINTS, start=1))

# Columns of fct_race_results that describe what happened in the race (unknown before the start).
# The grid, the entry list and whether the car took the start are treated as pre-race facts.
OUTCOME_COLUMNS = (
    "position_order",
    "finish_position",
    "points",
    "status_category",
    "is_classified",
    "is_dnf",
    "is_mechanical_dnf",
    "is_win",
    "is_podium",
    "positions_gained",
)

KEY_COLUMNS = ["race_id", "season", "round", "circuit_id", "driver_id", "constructor_id"]
TARGET_COLUMNS = ["finish_rank", "finish_score", "is_win", "is_podium"]

FEATURE_COLUMNS = [
    # the grid and qualifying of this race (set before the start)
    "grid_position",
    "grid_pct",
    "is_pit_lane_start",
    "quali_position",
    "quali_gap_pct",
    "n_starters",
    # driver form over recent races
    "driver_points_5",
    "driver_finish_5",
    "driver_grid_5",
    "driver_finish_20",
    "driver_podium_rate_10",
    "driver_win_rate_10",
    "driver_dnf_rate_10",
    "driver_mech_dnf_rate_20",
    "driver_history_races",
    # constructor form and reliability
    "constructor_points_5",
    "constructor_finish_5",
    "constructor_finish_20",
    "constructor_podium_rate_10",
    "constructor_dnf_rate_10",
    "constructor_mech_dnf_rate_20",
    # season to date
    "driver_season_points_per_race",
    "driver_season_rank",
    "driver_season_finish",
    "constructor_season_points_per_race",
    "constructor_season_finish",
    "constructor_season_rank",
    # circuit history
    "driver_circuit_finish",
    "driver_circuit_visits",
    "constructor_circuit_finish",
    # teammate comparison
    "grid_vs_teammate",
    "quali_h2h_rate_10",
    "race_h2h_rate_10",
    "points_vs_teammate_5",
    # field-relative form and season progress
    "driver_form_rank",
    "constructor_form_rank",
    "round_number",
    "season_progress",
]

# Fallbacks for entries with no history (rookies, new teams): constants, never statistics of the
# data, so that imputing one race cannot depend on any other race's outcome.
_NO_HISTORY = {
    "driver_points_5": 0.0,
    "driver_finish_5": 0.3,
    "driver_grid_5": 0.7,
    "driver_finish_20": 0.3,
    "driver_season_finish": 0.3,
    "constructor_finish_20": 0.3,
    "constructor_season_finish": 0.3,
    "driver_podium_rate_10": 0.0,
    "driver_win_rate_10": 0.0,
    "driver_dnf_rate_10": 0.2,
    "driver_mech_dnf_rate_20": 0.1,
    "constructor_points_5": 0.0,
    "constructor_finish_5": 0.3,
    "constructor_podium_rate_10": 0.0,
    "constructor_dnf_rate_10": 0.2,
    "constructor_mech_dnf_rate_20": 0.1,
    "driver_circuit_finish": 0.3,
    "constructor_circuit_finish": 0.3,
    "driver_season_points_per_race": 0.0,
    "constructor_season_points_per_race": 0.0,
    "quali_h2h_rate_10": 0.5,
    "race_h2h_rate_10": 0.5,
    "points_vs_teammate_5": 0.0,
    "grid_vs_teammate": 0.0,
}


@dataclass(frozen=True)
class RaceInputs:
    """The mart rows features are built from: race entries (with outcomes) and qualifying."""

    results: pd.DataFrame
    qualifying: pd.DataFrame


def load_inputs(con: duckdb.DuckDBPyConnection, *, min_season: int = 1950) -> RaceInputs:
    """Read race entries and qualifying from the marts of ``con`` (warehouse or published snapshot).

    ``min_season`` should lie a few seasons before the first season you train on, so that form
    features of that season have history behind them.
    """
    results = con.execute(
        """
        select
            r.race_id, r.season, r.round, r.race_date, r.circuit_id, r.driver_id,
            r.constructor_id, r.grid, r.is_started, d.rounds_in_season,
            r.position_order, r.finish_position, r.points, r.status_category,
            r.is_classified, r.is_dnf, r.is_mechanical_dnf, r.is_win, r.is_podium,
            r.positions_gained
        from marts.fct_race_results as r
        join marts.dim_races as d using (race_id)
        where r.season >= ?
        """,
        [min_season],
    ).df()
    qualifying = con.execute(
        """
        select race_id, driver_id, qualifying_position, gap_to_pole_pct
        from marts.fct_qualifying
        where season >= ?
        """,
        [min_season],
    ).df()
    return RaceInputs(results=results, qualifying=qualifying)


# What the entry list of an upcoming race was taken from (see load_upcoming_entries).
EntryBasis = Literal["qualifying", "previous_race"]


@dataclass(frozen=True)
class UpcomingRace:
    """A race in marts.dim_races after the last race with results, and its expected entries.

    ``entries`` has the columns of ``RaceInputs.results`` with the outcome columns null: from the
    race's qualifying when the marts hold it (grid = qualifying position, constructor from
    qualifying), otherwise the previous race's starters with the grid left null (filled in by
    ``upcoming_race_features`` from each driver's recent grid slots).
    """

    race_id: int
    season: int
    round: int
    basis: EntryBasis
    entries: pd.DataFrame


def load_upcoming_race(con: duckdb.DuckDBPyConnection) -> UpcomingRace | None:
    """The first race of marts.dim_races after the last race with results, or None.

    Races without a date are skipped (they are not scheduled yet). None when every dated race
    has results, or when no race has results at all (there is no history to predict from).
    """
    race = con.execute(
        """
        with last_run as (
            select max(season * 1000 + round) as race_key from marts.fct_race_results
        )
        select race_id, season, round, race_date, circuit_id, rounds_in_season
        from marts.dim_races
        where race_date is not null
            and season * 1000 + round > (select race_key from last_run)
        order by season, round
        limit 1
        """
    ).df()
    if race.empty:
        return None
    info = race.iloc[0]
    race_id = int(info["race_id"])
    entries = con.execute(
        """
        select driver_id, constructor_id, qualifying_position as grid
        from marts.fct_qualifying
        where race_id = ?
        """,
        [race_id],
    ).df()
    basis: EntryBasis = "qualifying"
    if entries.empty:
        basis = "previous_race"
        entries = con.execute(
            """
            with last_race as (
                select race_id from marts.fct_race_results
                order by season desc, round desc
                limit 1
            )
            select distinct driver_id, constructor_id, cast(null as integer) as grid
            from marts.fct_race_results
            where race_id = (select race_id from last_race) and is_started
            """
        ).df()
    for column in ("race_id", "season", "round", "race_date", "circuit_id", "rounds_in_season"):
        entries[column] = info[column]
    entries["is_started"] = True
    for column in OUTCOME_COLUMNS:
        entries[column] = None
    return UpcomingRace(
        race_id=race_id,
        season=int(info["season"]),
        round=int(info["round"]),
        basis=basis,
        entries=entries,
    )


def upcoming_race_features(inputs: RaceInputs, upcoming: UpcomingRace) -> pd.DataFrame:
    """Features of the upcoming race's entries, as ``build_features`` returns them; targets null.

    The race is appended to ``inputs.results`` with placeholder outcomes (finishing in grid
    order, no points, no retirements). Features of a race never read that race's outcomes (the
    leakage test proves it), so the placeholders reach only the target columns, which are then
    set to null. Without a grid (entries from the previous race), each driver's slot is the
    order of their mean grid over the last 5 races (``driver_grid_5``), computed in a first pass.
    """
    entries = upcoming.entries.copy()
    missing = entries["grid"].isna()
    if missing.any():
        first = _features_with_placeholder(inputs, entries.assign(grid=1), upcoming.race_id)
        recent = first.set_index("driver_id")["driver_grid_5"]
        # Drivers without a grid slot line up behind those with one, in their recent grid order.
        order = entries.loc[missing, "driver_id"].map(recent).rank(method="first")
        entries.loc[missing, "grid"] = order + entries["grid"].fillna(0).max()
    features = _features_with_placeholder(inputs, entries, upcoming.race_id)
    features[TARGET_COLUMNS] = features[TARGET_COLUMNS].astype("float64")
    features[TARGET_COLUMNS] = np.nan
    return features


def _features_with_placeholder(
    inputs: RaceInputs, entries: pd.DataFrame, race_id: int
) -> pd.DataFrame:
    placeholder = entries.astype({"grid": "int64"}).assign(
        position_order=lambda e: e["grid"].rank(method="first").astype("int64"),
        finish_position=lambda e: e["position_order"],
        points=0.0,
        status_category="finished",
        is_classified=True,
        is_dnf=False,
        is_mechanical_dnf=False,
        is_win=lambda e: e["position_order"] == 1,
        is_podium=lambda e: e["position_order"] <= 3,
        positions_gained=0,
    )
    results = pd.concat([inputs.results, placeholder[inputs.results.columns]], ignore_index=True)
    features = build_features(RaceInputs(results=results, qualifying=inputs.qualifying))
    return features[features["race_id"] == race_id].reset_index(drop=True)


def build_features(inputs: RaceInputs) -> pd.DataFrame:
    """One row per started race entry: keys, FEATURE_COLUMNS (no nulls) and TARGET_COLUMNS.

    Every history feature of race r is computed from races strictly before r in (season, round)
    order: rolling windows are shifted by one race within each driver / constructor / circuit
    series. Only the grid and qualifying of race r itself are used, which are set before the start.
    """
    entries = _entries(inputs.results)
    entries = _add_grid_and_qualifying(entries, inputs.qualifying)
    entries = _add_driver_form(entries)
    entries = _add_constructor_form(entries)
    entries = _add_season_to_date(entries)
    entries = _add_circuit_history(entries)
    entries = _add_teammate_comparison(entries)
    entries = _add_field_ranks(entries)
    entries["round_number"] = entries["round"]
    entries["season_progress"] = entries["round"] / entries["rounds_in_season"]
    for column, value in _NO_HISTORY.items():
        entries[column] = entries[column].fillna(value)
    entries[FEATURE_COLUMNS] = entries[FEATURE_COLUMNS].astype("float64")
    missing = entries[FEATURE_COLUMNS].isna().sum()
    if missing.any():
        raise ValueError(f"features with nulls: {missing[missing > 0].to_dict()}")
    columns = KEY_COLUMNS + ["race_seq"] + FEATURE_COLUMNS + TARGET_COLUMNS
    # Sorted by pre-race facts only, so that no tie-break downstream can see the result.
    ordered = entries.sort_values(["race_seq", "grid_position", "driver_id"])
    return ordered[columns].reset_index(drop=True)


def _entries(results: pd.DataFrame) -> pd.DataFrame:
    """Started entries, one per (race, driver), in chronological order, with normalised outcomes."""
    frame = results[results["is_started"].astype(bool)].copy()
    # 1950s shared drives give a driver several rows in a race: keep the best-placed car.
    frame = frame.sort_values("position_order").drop_duplicates(["race_id", "driver_id"])
    order = frame[["season", "round"]].drop_duplicates().sort_values(["season", "round"])
    order["race_seq"] = np.arange(len(order))
    frame = frame.merge(order, on=["season", "round"])
    frame = frame.sort_values(["race_seq", "position_order"]).reset_index(drop=True)
    frame["n_starters"] = frame.groupby("race_seq")["driver_id"].transform("size")
    frame["finish_rank"] = frame.groupby("race_seq")["position_order"].rank(method="first")
    frame["finish_score"] = 1 - (frame["finish_rank"] - 1) / (frame["n_starters"] - 1).clip(lower=1)
    frame["modern_points"] = (
        frame["finish_rank"].where(frame["is_classified"].astype(bool)).map(MODERN_POINTS)
    ).fillna(0.0)
    for flag in ("is_win", "is_podium", "is_dnf", "is_mechanical_dnf"):
        frame[flag] = frame[flag].astype(bool).astype(int)
    return frame


def _add_grid_and_qualifying(entries: pd.DataFrame, qualifying: pd.DataFrame) -> pd.DataFrame:
    frame = entries.merge(qualifying, on=["race_id", "driver_id"], how="left")
    # Grid 0 is a pit-lane start: behind everyone who has a slot.
    frame["is_pit_lane_start"] = (frame["grid"] == 0).astype(int)
    frame["grid_position"] = frame["grid"].where(frame["grid"] > 0, frame["n_starters"] + 1)
    frame["grid_pct"] = frame["grid_position"] / frame["n_starters"]
    frame["quali_position"] = frame["qualifying_position"].fillna(frame["grid_position"])
    # No time set: just behind the slowest time of the session, or a gap in line with the grid
    # slot when the race has no qualifying data at all (before 1994).
    slowest = frame.groupby("race_seq")["gap_to_pole_pct"].transform("max")
    frame["quali_gap_pct"] = frame["gap_to_pole_pct"].fillna(slowest + 0.5)
    frame["quali_gap_pct"] = frame["quali_gap_pct"].fillna(4.0 * frame["grid_pct"])
    return frame


def _prior_rolling(frame: pd.DataFrame, by: str | list[str], column: str, window: int) -> pd.Series:
    """Mean of ``column`` over the previous ``window`` rows of each ``by`` series (current row excluded).

    ``frame`` must be sorted chronologically; NaN where there is no earlier row.
    """
    keys = [by] if isinstance(by, str) else list(by)
    shifted = frame.groupby(keys, sort=False)[column].shift(1)
    rolled = (
        shifted.groupby([frame[k] for k in keys], sort=False).rolling(window, min_periods=1).mean()
    )
    return rolled.reset_index(level=list(range(len(keys))), drop=True).reindex(frame.index)


def _add_driver_form(entries: pd.DataFrame) -> pd.DataFrame:
    frame = entries.sort_values("race_seq").copy()
    frame["driver_points_5"] = _prior_rolling(frame, "driver_id", "modern_points", 5)
    frame["driver_finish_5"] = _prior_rolling(frame, "driver_id", "finish_score", 5)
    frame["driver_grid_5"] = _prior_rolling(frame, "driver_id", "grid_pct", 5)
    frame["driver_finish_20"] = _prior_rolling(frame, "driver_id", "finish_score", 20)
    frame["driver_podium_rate_10"] = _prior_rolling(frame, "driver_id", "is_podium", 10)
    frame["driver_win_rate_10"] = _prior_rolling(frame, "driver_id", "is_win", 10)
    frame["driver_dnf_rate_10"] = _prior_rolling(frame, "driver_id", "is_dnf", 10)
    frame["driver_mech_dnf_rate_20"] = _prior_rolling(frame, "driver_id", "is_mechanical_dnf", 20)
    frame["driver_history_races"] = frame.groupby("driver_id").cumcount()
    return frame


def _constructor_races(entries: pd.DataFrame) -> pd.DataFrame:
    """One row per (constructor, race): per-car averages of the outcomes."""
    return (
        entries.groupby(["constructor_id", "race_seq", "circuit_id", "season"], as_index=False)
        .agg(
            points=("modern_points", "mean"),
            finish=("finish_score", "mean"),
            podium=("is_podium", "mean"),
            dnf=("is_dnf", "mean"),
            mech_dnf=("is_mechanical_dnf", "mean"),
        )
        .sort_values("race_seq")
    )


def _add_constructor_form(entries: pd.DataFrame) -> pd.DataFrame:
    teams = _constructor_races(entries)
    teams["constructor_points_5"] = _prior_rolling(teams, "constructor_id", "points", 5)
    teams["constructor_finish_5"] = _prior_rolling(teams, "constructor_id", "finish", 5)
    teams["constructor_finish_20"] = _prior_rolling(teams, "constructor_id", "finish", 20)
    teams["constructor_podium_rate_10"] = _prior_rolling(teams, "constructor_id", "podium", 10)
    teams["constructor_dnf_rate_10"] = _prior_rolling(teams, "constructor_id", "dnf", 10)
    teams["constructor_mech_dnf_rate_20"] = _prior_rolling(teams, "constructor_id", "mech_dnf", 20)
    teams["constructor_circuit_finish"] = _prior_rolling(
        teams, ["constructor_id", "circuit_id"], "finish", 5
    )
    # Season to date, per car: cumulative before this race.
    by_season = teams.groupby(["constructor_id", "season"])
    teams["constructor_season_points_per_race"] = (
        by_season["points"].cumsum() - teams["points"]
    ) / by_season.cumcount().replace(0, np.nan)
    teams["constructor_season_finish"] = _prior_rolling(
        teams, ["constructor_id", "season"], "finish", 30
    )
    keep = [
        "constructor_id",
        "race_seq",
        "constructor_points_5",
        "constructor_finish_5",
        "constructor_finish_20",
        "constructor_season_finish",
        "constructor_podium_rate_10",
        "constructor_dnf_rate_10",
        "constructor_mech_dnf_rate_20",
        "constructor_circuit_finish",
        "constructor_season_points_per_race",
    ]
    return entries.merge(teams[keep], on=["constructor_id", "race_seq"], how="left")


def _add_season_to_date(entries: pd.DataFrame) -> pd.DataFrame:
    frame = entries.sort_values("race_seq").copy()
    by_season = frame.groupby(["driver_id", "season"])
    before = by_season["modern_points"].cumsum() - frame["modern_points"]
    frame["driver_season_points_before"] = before
    frame["driver_season_points_per_race"] = before / by_season.cumcount().replace(0, np.nan)
    frame["driver_season_finish"] = _prior_rolling(
        frame, ["driver_id", "season"], "finish_score", 30
    )
    # Rank among this race's starters by points scored so far this season (1 = leader).
    frame["driver_season_rank"] = frame.groupby("race_seq")["driver_season_points_before"].rank(
        ascending=False, method="min"
    )
    frame["constructor_season_rank"] = frame.groupby("race_seq")[
        "constructor_season_points_per_race"
    ].rank(ascending=False, method="min", na_option="bottom")
    return frame


def _add_circuit_history(entries: pd.DataFrame) -> pd.DataFrame:
    frame = entries.sort_values("race_seq").copy()
    frame["driver_circuit_visits"] = frame.groupby(["driver_id", "circuit_id"]).cumcount()
    frame["driver_circuit_finish"] = _prior_rolling(
        frame, ["driver_id", "circuit_id"], "finish_score", 5
    )
    # No earlier visit: the driver's current form is the best guess.
    frame["driver_circuit_finish"] = frame["driver_circuit_finish"].fillna(frame["driver_finish_5"])
    frame["constructor_circuit_finish"] = frame["constructor_circuit_finish"].fillna(
        frame["constructor_finish_5"]
    )
    return frame


def _teammate_mean(frame: pd.DataFrame, column: str) -> pd.Series:
    """Mean of ``column`` over the other cars of the same constructor in the same race."""
    group = frame.groupby(["race_seq", "constructor_id"])[column]
    total, count = group.transform("sum"), group.transform("count")
    others = (total - frame[column].fillna(0)) / (count - frame[column].notna().astype(int))
    return others.replace([np.inf, -np.inf], np.nan)


def _add_teammate_comparison(entries: pd.DataFrame) -> pd.DataFrame:
    frame = entries.sort_values("race_seq").copy()
    frame["grid_vs_teammate"] = frame["grid_position"] - _teammate_mean(frame, "grid_position")
    frame["points_vs_teammate_5"] = frame["driver_points_5"] - _teammate_mean(
        frame, "driver_points_5"
    )
    # Head-to-head in each race (NaN without a teammate), then a shifted rolling rate.
    mate_quali = _teammate_mean(frame, "quali_position")
    frame["beat_mate_quali"] = (frame["quali_position"] < mate_quali).astype(float)
    frame.loc[mate_quali.isna(), "beat_mate_quali"] = np.nan
    mate_finish = _teammate_mean(frame, "finish_rank")
    frame["beat_mate_race"] = (frame["finish_rank"] < mate_finish).astype(float)
    frame.loc[mate_finish.isna(), "beat_mate_race"] = np.nan
    frame["quali_h2h_rate_10"] = _prior_rolling(frame, "driver_id", "beat_mate_quali", 10)
    frame["race_h2h_rate_10"] = _prior_rolling(frame, "driver_id", "beat_mate_race", 10)
    return frame


def _add_field_ranks(entries: pd.DataFrame) -> pd.DataFrame:
    frame = entries.copy()
    by_race = frame.groupby("race_seq")
    frame["driver_form_rank"] = by_race["driver_points_5"].rank(
        ascending=False, method="min", na_option="bottom"
    )
    frame["constructor_form_rank"] = by_race["constructor_points_5"].rank(
        ascending=False, method="min", na_option="bottom"
    )
    return frame
