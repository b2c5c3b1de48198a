"""The metric registry: which snapshot tables answer each metric, at which grain, with which SQL.

Every SQL fragment here is a constant written by us; user input never reaches it. A query picks
metrics by name from this registry, and the planner assembles these fragments with bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Entity = Literal["driver", "constructor", "circuit", "race"]
GroupKey = Literal["season", "entity", "circuit"]
ENTITIES: tuple[Entity, ...] = ("driver", "constructor", "circuit", "race")
GROUP_KEYS: tuple[GroupKey, ...] = ("season", "entity", "circuit")


class Rollup(StrEnum):
    """How a formula behaves when the query is coarser than the source rows."""

    # Exact at any coarser grain: sums of counts, and any aggregate over event rows.
    ANY = "any"
    # A value already computed at the source's own grain (a median, an average): only exact there.
    EXACT_GRAIN = "exact grain only"


@dataclass(frozen=True, eq=False)  # each source is a singleton: identity is equality
class Source:
    """A relation of the published snapshot that answers metrics for one entity.

    ``grain`` is what one row is (besides the entity); ``keys`` maps the group keys the source can
    provide to its columns. ``atomic`` sources hold event rows (a result, a pit stop), so any
    aggregate over them is exact at any grain; pre-aggregated marts only roll up additive figures.
    """

    name: str
    table: str  # the snapshot table whose statistics estimate the cost
    entity: Entity
    entity_column: str
    grain: frozenset[str]
    keys: dict[str, str]
    atomic: bool
    # Trusted SQL relation when the table needs a join or an unpivot; the table itself otherwise.
    relation: str | None = None
    # Rows the source must skip for every metric it answers (a constant predicate).
    where: str | None = None

    @property
    def from_sql(self) -> str:
        """The FROM item of this source."""
        return f"({self.relation})" if self.relation else self.table

    @property
    def season_column(self) -> str | None:
        """The column season filters are pushed down to, if the source has seasons."""
        return self.keys.get("season")


@dataclass(frozen=True)
class Formula:
    """How one source computes one base metric: an aggregate SQL expression over its rows."""

    source: Source
    sql: str
    kind: str  # words for EXPLAIN: "sum", "count of races", "median", ...
    dtype: Literal["BIGINT", "DOUBLE"]
    rollup: Rollup = Rollup.ANY

    def aggregate_sql(self) -> str:
        """The aggregate, cast so every source of a metric returns the same type."""
        return f"cast({self.sql} as {self.dtype})"


@dataclass(frozen=True)
class Metric:
    """A metric users can ask for.

    A base metric has ``formulas`` (one per source able to answer it). A derived metric is
    rewritten by the planner: ``ratio`` = numerator / denominator of two base metrics (both
    aggregated first, so the ratio is exact over any grain), ``share`` = the entity's value of a
    base metric over the value of all entities in the same group (e.g. share of the season's
    points). ``pairwise`` metrics only exist between two entities (comparison mode).
    """

    name: str
    description: str
    higher_is_better: bool = True
    formulas: dict[Entity, tuple[Formula, ...]] = field(default_factory=dict)
    ratio: tuple[str, str] | None = None
    share_of: str | None = None
    pairwise: dict[Entity, str] = field(default_factory=dict)

    @property
    def is_derived(self) -> bool:
        """True when the planner rewrites the metric into base metrics."""
        return self.ratio is not None or self.share_of is not None


# --- sources -------------------------------------------------------------------------------------

_SEASON_ENTITY = frozenset({"season", "entity"})
_RACE_ENTITY = frozenset({"race", "entity"})
_EVENT = frozenset({"event", "entity"})

DRIVER_SEASON = Source(
    name="driver_season",
    table="marts.mart_driver_season",
    entity="driver",
    entity_column="driver_id",
    grain=_SEASON_ENTITY,
    keys={"season": "season"},
    atomic=False,
)
DRIVER_RESULTS = Source(
    name="driver_results",
    table="marts.fct_race_results",
    entity="driver",
    entity_column="driver_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
)
# The teammate mart holds each pair once (driver_a_id < driver_b_id): unpivot it to one row per
# driver so a driver's duels are found whichever side of the pair he is on.
DRIVER_TEAMMATES = Source(
    name="driver_teammates",
    table="marts.mart_teammate_head_to_head",
    entity="driver",
    entity_column="driver_id",
    grain=frozenset({"season", "entity", "teammate"}),
    keys={"season": "season"},
    atomic=False,
    relation=(
        "select season, driver_a_id as driver_id, race_duels, race_wins_a as race_duels_won,"
        " qualifying_duels, qualifying_wins_a as qualifying_duels_won"
        " from marts.mart_teammate_head_to_head"
        " union all"
        " select season, driver_b_id as driver_id, race_duels, race_wins_b as race_duels_won,"
        " qualifying_duels, qualifying_wins_b as qualifying_duels_won"
        " from marts.mart_teammate_head_to_head"
    ),
)
# Each driver's qualifying lap against each team-mate's at the same race weekend, compared in the
# last session both set a time in (Q3, else Q2, else Q1: knockout qualifying since 2006; one
# session before), as a percentage of the team-mate's time (positive = slower). Same session,
# so track evolution between Q1 and Q3 does not count as pace.
DRIVER_QUALI_GAPS = Source(
    name="driver_quali_gaps",
    table="marts.fct_qualifying",
    entity="driver",
    entity_column="driver_id",
    grain=frozenset({"race", "entity", "teammate"}),
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=(
        "select driver.season, races.circuit_id, driver.race_id, driver.driver_id,"
        " 100.0 * (case"
        " when driver.q3_ms is not null and mate.q3_ms is not null"
        " then (driver.q3_ms - mate.q3_ms) / mate.q3_ms"
        " when driver.q2_ms is not null and mate.q2_ms is not null"
        " then (driver.q2_ms - mate.q2_ms) / mate.q2_ms"
        " else (driver.q1_ms - mate.q1_ms) / mate.q1_ms end) as gap_pct"
        " from marts.fct_qualifying as driver"
        " inner join marts.fct_qualifying as mate"
        " on driver.race_id = mate.race_id and driver.constructor_id = mate.constructor_id"
        " and driver.driver_id != mate.driver_id"
        " inner join marts.dim_races as races on driver.race_id = races.race_id"
    ),
    # Weekends where the two never set a time in the same session compare nothing.
    where="gap_pct is not null",
)
_PIT_STOPS_WITH_CIRCUIT = (
    "select pit_stops.*, races.circuit_id from marts.fct_pit_stops as pit_stops"
    " inner join marts.dim_races as races on pit_stops.race_id = races.race_id"
)
# Same rule as mart_pit_stop_performance: timing starts in 2011, red-flag stops are left out.
_TIMED_STOPS = "season >= 2011 and not is_red_flag_stop"
DRIVER_PIT_STOPS = Source(
    name="driver_pit_stops",
    table="marts.fct_pit_stops",
    entity="driver",
    entity_column="driver_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=_PIT_STOPS_WITH_CIRCUIT,
    where=_TIMED_STOPS,
)
_LAP_PACE_WITH_CIRCUIT = (
    "select lap_pace.*, races.circuit_id from marts.mart_lap_pace as lap_pace"
    " inner join marts.dim_races as races on lap_pace.race_id = races.race_id"
)
DRIVER_LAP_PACE = Source(
    name="driver_lap_pace",
    table="marts.mart_lap_pace",
    entity="driver",
    entity_column="driver_id",
    grain=_RACE_ENTITY,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=_LAP_PACE_WITH_CIRCUIT,
    where="is_ranked",
)
CONSTRUCTOR_SEASON = Source(
    name="constructor_season",
    table="marts.mart_constructor_season",
    entity="constructor",
    entity_column="constructor_id",
    grain=_SEASON_ENTITY,
    keys={"season": "season"},
    atomic=False,
)
CONSTRUCTOR_RESULTS = Source(
    name="constructor_results",
    table="marts.fct_race_results",
    entity="constructor",
    entity_column="constructor_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
)
CONSTRUCTOR_PIT_SEASON = Source(
    name="constructor_pit_season",
    table="marts.mart_pit_stop_performance",
    entity="constructor",
    entity_column="constructor_id",
    grain=_SEASON_ENTITY,
    keys={"season": "season"},
    atomic=False,
)
CONSTRUCTOR_PIT_STOPS = Source(
    name="constructor_pit_stops",
    table="marts.fct_pit_stops",
    entity="constructor",
    entity_column="constructor_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=_PIT_STOPS_WITH_CIRCUIT,
    where=_TIMED_STOPS,
)
CONSTRUCTOR_LAP_PACE = Source(
    name="constructor_lap_pace",
    table="marts.mart_lap_pace",
    entity="constructor",
    entity_column="constructor_id",
    grain=_RACE_ENTITY,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=_LAP_PACE_WITH_CIRCUIT,
    where="is_ranked",
)
CIRCUIT_HISTORY = Source(
    name="circuit_history",
    table="marts.mart_circuit_history",
    entity="circuit",
    entity_column="circuit_id",
    grain=frozenset({"entity"}),
    keys={},  # all-time figures: no season to filter or group by
    atomic=False,
)
CIRCUIT_RESULTS = Source(
    name="circuit_results",
    table="marts.fct_race_results",
    entity="circuit",
    entity_column="circuit_id",
    grain=_EVENT,
    keys={"season": "season"},
    atomic=True,
)
CIRCUIT_PIT_STOPS = Source(
    name="circuit_pit_stops",
    table="marts.fct_pit_stops",
    entity="circuit",
    entity_column="circuit_id",
    grain=_EVENT,
    keys={"season": "season"},
    atomic=True,
    relation=_PIT_STOPS_WITH_CIRCUIT,
    where=_TIMED_STOPS,
)
RACE_RESULTS = Source(
    name="race_results",
    table="marts.fct_race_results",
    entity="race",
    entity_column="race_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
)
RACE_PIT_STOPS = Source(
    name="race_pit_stops",
    table="marts.fct_pit_stops",
    entity="race",
    entity_column="race_id",
    grain=_EVENT,
    keys={"season": "season", "circuit": "circuit_id"},
    atomic=True,
    relation=_PIT_STOPS_WITH_CIRCUIT,
    where=_TIMED_STOPS,
)

SOURCES: tuple[Source, ...] = (
    DRIVER_SEASON,
    DRIVER_RESULTS,
    DRIVER_TEAMMATES,
    DRIVER_QUALI_GAPS,
    DRIVER_PIT_STOPS,
    DRIVER_LAP_PACE,
    CONSTRUCTOR_SEASON,
    CONSTRUCTOR_RESULTS,
    CONSTRUCTOR_PIT_SEASON,
    CONSTRUCTOR_PIT_STOPS,
    CONSTRUCTOR_LAP_PACE,
    CIRCUIT_HISTORY,
    CIRCUIT_RESULTS,
    CIRCUIT_PIT_STOPS,
    RACE_RESULTS,
    RACE_PIT_STOPS,
)

# A constructor's record is counted per car, like mart_constructor_season: the drivers of a shared
# 1950s car hold one result each with the same position_order, so (race, position_order) is a car.
_CAR = "(race_id, position_order)"


def _f(
    source: Source,
    sql: str,
    kind: str,
    dtype: Literal["BIGINT", "DOUBLE"] = "BIGINT",
    rollup: Rollup = Rollup.ANY,
) -> Formula:
    return Formula(source, sql, kind, dtype, rollup)


def _counted(
    driver_column: str,
    constructor_column: str,
    race_filter: str,
    car_filter: str | None = None,
) -> dict[Entity, tuple[Formula, ...]]:
    """A count for drivers and constructors: the season mart's column, or counted from results.

    Drivers count races; constructors count races (``race_filter``) or cars (``car_filter``).
    """
    car_sql = (
        f"count(distinct {_CAR}) filter (where {car_filter})"
        if car_filter
        else f"count(distinct race_id) filter (where {race_filter})"
    )
    return {
        "driver": (
            _f(DRIVER_SEASON, f"sum({driver_column})", "sum of the season column"),
            _f(
                DRIVER_RESULTS,
                f"count(distinct race_id) filter (where {race_filter})",
                "count of races",
            ),
        ),
        "constructor": (
            _f(CONSTRUCTOR_SEASON, f"sum({constructor_column})", "sum of the season column"),
            _f(CONSTRUCTOR_RESULTS, car_sql, "count of cars" if car_filter else "count of races"),
        ),
    }


_METRICS: tuple[Metric, ...] = (
    Metric(
        "points",
        "Championship points scored, race + sprint, as the results credit them.",
        formulas={
            "driver": (_f(DRIVER_SEASON, "sum(points)", "sum", "DOUBLE"),),
            "constructor": (_f(CONSTRUCTOR_SEASON, "sum(points)", "sum", "DOUBLE"),),
        },
    ),
    Metric(
        "race_points",
        "Championship points from races only (no sprints); also available per circuit.",
        formulas={
            "driver": (
                _f(DRIVER_SEASON, "sum(race_points)", "sum", "DOUBLE"),
                _f(DRIVER_RESULTS, "sum(points)", "sum", "DOUBLE"),
            ),
            "constructor": (
                _f(CONSTRUCTOR_SEASON, "sum(race_points)", "sum", "DOUBLE"),
                _f(CONSTRUCTOR_RESULTS, "sum(points)", "sum", "DOUBLE"),
            ),
        },
    ),
    Metric(
        "official_points",
        "Points in the official final standings (dropped scores and exclusions applied).",
        formulas={
            "driver": (_f(DRIVER_SEASON, "sum(official_points)", "sum", "DOUBLE"),),
            "constructor": (_f(CONSTRUCTOR_SEASON, "sum(official_points)", "sum", "DOUBLE"),),
        },
    ),
    Metric(
        "championship_position",
        "Official championship position; over several seasons, the best one.",
        higher_is_better=False,
        formulas={
            "driver": (_f(DRIVER_SEASON, "min(official_position)", "best (min)"),),
            "constructor": (_f(CONSTRUCTOR_SEASON, "min(official_position)", "best (min)"),),
        },
    ),
    Metric(
        "era_points",
        "Era-normalised points: every race re-scored with the modern points system.",
        formulas={
            "driver": (_f(DRIVER_SEASON, "sum(modern_points)", "sum", "DOUBLE"),),
            "constructor": (_f(CONSTRUCTOR_SEASON, "sum(modern_points)", "sum", "DOUBLE"),),
        },
    ),
    Metric(
        "races",
        "Races entered (a circuit: championship races held there; a race: 1).",
        formulas={
            **_counted("races_entered", "races_entered", "true"),
            "circuit": (
                _f(
                    CIRCUIT_HISTORY,
                    "sum(races_held)",
                    "all-time column of the circuit mart",
                    rollup=Rollup.EXACT_GRAIN,
                ),
                _f(CIRCUIT_RESULTS, "count(distinct race_id)", "count of races"),
            ),
            "race": (_f(RACE_RESULTS, "count(distinct race_id)", "count of races"),),
        },
    ),
    Metric(
        "starts",
        "Starts (constructors: car starts; circuits and races: cars that started).",
        formulas={
            **_counted("races_started", "car_starts", "is_started", car_filter="is_started"),
            "circuit": (_f(CIRCUIT_RESULTS, "count(*) filter (where is_started)", "count"),),
            "race": (_f(RACE_RESULTS, "count(*) filter (where is_started)", "count"),),
        },
    ),
    Metric(
        "wins",
        "Race wins.",
        formulas=_counted("wins", "wins", "is_win"),
    ),
    Metric(
        "podiums",
        "Podium finishes (constructors: cars on the podium).",
        formulas=_counted("podiums", "podiums", "is_podium", car_filter="is_podium"),
    ),
    Metric(
        "poles",
        "Starts from grid slot 1 (constructors: races with a car on pole).",
        formulas=_counted("poles", "poles", "is_pole"),
    ),
    Metric(
        "dnfs",
        "Did-not-finish results (constructors: cars that did not finish).",
        higher_is_better=False,
        formulas={
            "driver": (
                _f(DRIVER_SEASON, "sum(dnfs)", "sum"),
                _f(DRIVER_RESULTS, "count(*) filter (where is_dnf)", "count of results"),
            ),
            "constructor": (
                _f(CONSTRUCTOR_SEASON, "sum(dnfs)", "sum"),
                _f(
                    CONSTRUCTOR_RESULTS,
                    f"count(distinct {_CAR}) filter (where is_dnf)",
                    "count of cars",
                ),
            ),
            "circuit": (_f(CIRCUIT_RESULTS, "count(*) filter (where is_dnf)", "count"),),
            "race": (_f(RACE_RESULTS, "count(*) filter (where is_dnf)", "count"),),
        },
    ),
    Metric(
        "mechanical_dnfs",
        "DNFs with a mechanical cause.",
        higher_is_better=False,
        formulas={
            "driver": (
                _f(DRIVER_SEASON, "sum(mechanical_dnfs)", "sum"),
                _f(DRIVER_RESULTS, "count(*) filter (where is_mechanical_dnf)", "count"),
            ),
            "constructor": (
                _f(CONSTRUCTOR_SEASON, "sum(mechanical_dnfs)", "sum"),
                _f(
                    CONSTRUCTOR_RESULTS,
                    f"count(distinct {_CAR}) filter (where is_mechanical_dnf)",
                    "count of cars",
                ),
            ),
            "circuit": (_f(CIRCUIT_RESULTS, "count(*) filter (where is_mechanical_dnf)", "count"),),
            "race": (_f(RACE_RESULTS, "count(*) filter (where is_mechanical_dnf)", "count"),),
        },
    ),
    Metric(
        "avg_grid",
        "Average starting grid slot (pit-lane starts and missing grids left out).",
        higher_is_better=False,
        formulas={
            "driver": (
                _f(
                    DRIVER_SEASON,
                    "any_value(avg_grid)",
                    "season value",
                    "DOUBLE",
                    Rollup.EXACT_GRAIN,
                ),
                _f(DRIVER_RESULTS, "avg(grid) filter (where grid > 0)", "average", "DOUBLE"),
            ),
            "constructor": (
                _f(
                    CONSTRUCTOR_SEASON,
                    "any_value(avg_grid)",
                    "season value",
                    "DOUBLE",
                    Rollup.EXACT_GRAIN,
                ),
                _f(CONSTRUCTOR_RESULTS, "avg(grid) filter (where grid > 0)", "average", "DOUBLE"),
            ),
        },
    ),
    Metric(
        "avg_finish",
        "Average official finishing position of classified results.",
        higher_is_better=False,
        formulas={
            "driver": (
                _f(
                    DRIVER_SEASON,
                    "any_value(avg_finish_position)",
                    "season value",
                    "DOUBLE",
                    Rollup.EXACT_GRAIN,
                ),
                _f(DRIVER_RESULTS, "avg(finish_position)", "average", "DOUBLE"),
            ),
            "constructor": (
                _f(
                    CONSTRUCTOR_SEASON,
                    "any_value(avg_finish_position)",
                    "season value",
                    "DOUBLE",
                    Rollup.EXACT_GRAIN,
                ),
                _f(CONSTRUCTOR_RESULTS, "avg(finish_position)", "average", "DOUBLE"),
            ),
        },
    ),
    Metric(
        "positions_gained",
        "Average places gained from the grid to the flag per classified start (grid > 0).",
        formulas={
            "driver": (_f(DRIVER_RESULTS, "avg(positions_gained)", "average", "DOUBLE"),),
            "constructor": (_f(CONSTRUCTOR_RESULTS, "avg(positions_gained)", "average", "DOUBLE"),),
            "circuit": (_f(CIRCUIT_RESULTS, "avg(positions_gained)", "average", "DOUBLE"),),
            "race": (_f(RACE_RESULTS, "avg(positions_gained)", "average", "DOUBLE"),),
        },
    ),
    Metric(
        "pole_wins",
        "Races won from pole position.",
        formulas={
            "circuit": (
                _f(
                    CIRCUIT_RESULTS,
                    "count(distinct race_id) filter (where is_win and is_pole)",
                    "count",
                ),
            ),
            "race": (
                _f(
                    RACE_RESULTS,
                    "count(distinct race_id) filter (where is_win and is_pole)",
                    "count",
                ),
            ),
        },
    ),
    Metric(
        "teammate_race_duels",
        "Races finished where the driver and a team-mate were both classified apart (duels).",
        formulas={"driver": (_f(DRIVER_TEAMMATES, "sum(race_duels)", "sum"),)},
    ),
    Metric(
        "teammate_race_duels_won",
        "Race duels won against team-mates (finished ahead).",
        formulas={"driver": (_f(DRIVER_TEAMMATES, "sum(race_duels_won)", "sum"),)},
    ),
    Metric(
        "teammate_quali_duels",
        "Qualifying duels against team-mates.",
        formulas={"driver": (_f(DRIVER_TEAMMATES, "sum(qualifying_duels)", "sum"),)},
    ),
    Metric(
        "teammate_quali_duels_won",
        "Qualifying duels won against team-mates.",
        formulas={"driver": (_f(DRIVER_TEAMMATES, "sum(qualifying_duels_won)", "sum"),)},
    ),
    Metric(
        "teammate_quali_gap_pct",
        "Median gap of the driver's qualifying lap to his team-mate's, in % of the team-mate's"
        " (the last session both set a time in: Q3, else Q2, else Q1; negative = faster).",
        higher_is_better=False,
        formulas={"driver": (_f(DRIVER_QUALI_GAPS, "median(gap_pct)", "median", "DOUBLE"),)},
    ),
    Metric(
        "teammate_quali_gap_sessions",
        "Qualifying sessions with a lap time of the driver and of a team-mate to compare.",
        formulas={"driver": (_f(DRIVER_QUALI_GAPS, "count(*)", "count"),)},
    ),
    Metric(
        "pit_stop_median",
        "Median pit-lane time of a stop in ms (2011 on; red-flag stops left out).",
        higher_is_better=False,
        formulas={
            "driver": (_f(DRIVER_PIT_STOPS, "median(duration_ms)", "median", "DOUBLE"),),
            "constructor": (
                _f(
                    CONSTRUCTOR_PIT_SEASON,
                    "any_value(median_duration_ms)",
                    "season value",
                    "DOUBLE",
                    Rollup.EXACT_GRAIN,
                ),
                _f(CONSTRUCTOR_PIT_STOPS, "median(duration_ms)", "median", "DOUBLE"),
            ),
            "circuit": (_f(CIRCUIT_PIT_STOPS, "median(duration_ms)", "median", "DOUBLE"),),
            "race": (_f(RACE_PIT_STOPS, "median(duration_ms)", "median", "DOUBLE"),),
        },
    ),
    Metric(
        "pit_stops",
        "Timed pit stops (2011 on; red-flag stops left out).",
        formulas={
            "driver": (_f(DRIVER_PIT_STOPS, "count(*)", "count"),),
            "constructor": (
                _f(CONSTRUCTOR_PIT_SEASON, "sum(stops)", "sum"),
                _f(CONSTRUCTOR_PIT_STOPS, "count(*)", "count"),
            ),
            "circuit": (_f(CIRCUIT_PIT_STOPS, "count(*)", "count"),),
            "race": (_f(RACE_PIT_STOPS, "count(*)", "count"),),
        },
    ),
    Metric(
        "lap_pace_gap",
        "Average gap of the median clean lap to the fastest car's, in % (ranked races, 1996 on).",
        higher_is_better=False,
        formulas={
            "driver": (_f(DRIVER_LAP_PACE, "avg(gap_to_fastest_pct)", "average", "DOUBLE"),),
            "constructor": (
                _f(CONSTRUCTOR_LAP_PACE, "avg(gap_to_fastest_pct)", "average", "DOUBLE"),
            ),
        },
    ),
    # Derived metrics: the planner rewrites them into base metrics.
    Metric("dnf_rate", "DNFs per start.", higher_is_better=False, ratio=("dnfs", "starts")),
    Metric(
        "mechanical_dnf_rate",
        "Mechanical DNFs per start.",
        higher_is_better=False,
        ratio=("mechanical_dnfs", "starts"),
    ),
    Metric("win_rate", "Wins per start.", ratio=("wins", "starts")),
    Metric("pole_win_rate", "Share of races won from pole.", ratio=("pole_wins", "races")),
    Metric(
        "teammate_duels",
        "Share of race duels won against team-mates.",
        ratio=("teammate_race_duels_won", "teammate_race_duels"),
    ),
    Metric(
        "teammate_quali_duels_share",
        "Share of qualifying duels won against team-mates.",
        ratio=("teammate_quali_duels_won", "teammate_quali_duels"),
    ),
    Metric(
        "points_share",
        "Share of all points scored by every entity in the same group (e.g. the season).",
        share_of="points",
    ),
    Metric(
        "era_points_share",
        "Share of all era-normalised points in the same group.",
        share_of="era_points",
    ),
    # Pairwise: only in comparisons between two entities.
    Metric(
        "head_to_head",
        "Races both started where one finished ahead of the other (best car for constructors).",
        pairwise={"driver": "fct_race_results", "constructor": "mart_constructor_head_to_head"},
    ),
)

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def base_metrics(name: str) -> tuple[str, ...]:
    """The base metrics a metric is computed from (itself if it is a base metric)."""
    metric = METRICS[name]
    if metric.ratio:
        return metric.ratio
    if metric.share_of:
        return (metric.share_of,)
    return (name,)


def entities_of(name: str) -> tuple[Entity, ...]:
    """The entities a metric exists for."""
    metric = METRICS[name]
    if metric.pairwise:
        return tuple(e for e in ENTITIES if e in metric.pairwise)
    found = set.intersection(*(set(METRICS[b].formulas) for b in base_metrics(name)))
    return tuple(e for e in ENTITIES if e in found)


def metrics_for(entity: Entity) -> tuple[str, ...]:
    """Every metric a query about ``entity`` may ask for, in registry order."""
    return tuple(name for name in METRICS if entity in entities_of(name))


def sources() -> tuple[Source, ...]:
    """Every source the registry uses."""
    return SOURCES


# Pairwise head-to-head SQL; {season_filter} / {ids_filter} are replaced by the planner with
# predicates over bound parameters only.
HEAD_TO_HEAD_SQL: dict[Entity, str] = {
    "constructor": (
        "select season, constructor_a_id as a_id, constructor_b_id as b_id,"
        " cast(races_both_started as BIGINT) as races,"
        " cast(a_ahead_of_b as BIGINT) as a_ahead, cast(b_ahead_of_a as BIGINT) as b_ahead"
        " from marts.mart_constructor_head_to_head"
        " where constructor_a_id < constructor_b_id"
        " and list_contains($ids, constructor_a_id) and list_contains($ids, constructor_b_id)"
        " {season_filter}"
    ),
    # Drivers: every race both started, each represented by his best-placed car.
    "driver": (
        "with entries as ("
        " select race_id, season, driver_id, min(position_order) as position_order"
        " from marts.fct_race_results"
        " where is_started and list_contains($ids, driver_id) {season_filter}"
        " group by race_id, season, driver_id)"
        " select a.season, a.driver_id as a_id, b.driver_id as b_id,"
        " count(*) as races,"
        " count(*) filter (where a.position_order < b.position_order) as a_ahead,"
        " count(*) filter (where b.position_order < a.position_order) as b_ahead"
        " from entries as a inner join entries as b"
        " on a.race_id = b.race_id and a.driver_id < b.driver_id"
        " group by a.season, a.driver_id, b.driver_id"
    ),
}


def why_not(formula: Formula, group_by: frozenset[str], seasons_filtered: bool) -> str | None:
    """Why ``formula`` cannot answer a query grouped by ``group_by`` (None if it can)."""
    source = formula.source
    missing = sorted(k for k in group_by - {"entity"} if k not in source.keys)
    if missing:
        return f"{source.table} has no {' or '.join(missing)} to group by"
    if seasons_filtered and source.season_column is None:
        return f"{source.table} holds all-time figures and cannot filter seasons"
    if formula.rollup is Rollup.EXACT_GRAIN and group_by != source.grain:
        grain = " x ".join(sorted(source.grain))
        return (
            f"{source.table} holds one value per {grain}, exact only when grouped by exactly that"
        )
    return None


def answering_formulas(
    metric: str, entity: Entity, group_by: frozenset[str], seasons_filtered: bool
) -> tuple[tuple[Formula, ...], list[str]]:
    """The formulas able to answer a base metric, and the reasons the others cannot."""
    usable: list[Formula] = []
    reasons: list[str] = []
    for formula in METRICS[metric].formulas.get(entity, ()):
        reason = why_not(formula, group_by, seasons_filtered)
        if reason is None:
            usable.append(formula)
        else:
            reasons.append(reason)
    return tuple(usable), reasons
