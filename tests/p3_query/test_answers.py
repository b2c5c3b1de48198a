"""Engine answers equal independent plain-SQL answers written against the core marts.

The engine mostly reads the analytics marts (mart_constructor_season, mart_driver_season, ...);
the reference answers here are computed from the event tables (fct_race_results,
fct_sprint_results, fct_driver_standings) with their own SQL. On the real history the cases are
named (Ferrari vs McLaren vs Williams 1980-2024, Hamilton); on the demo data the same checks run
on the busiest entities.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from p3_query.engine import Engine
from p3_query.result import QueryResult
from p3_query.spec import validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

MODERN_SCORING = (
    "(values (1, 25), (2, 18), (3, 15), (4, 12), (5, 10), (6, 8), (7, 6), (8, 4), (9, 2), (10, 1))"
)


@dataclass(frozen=True)
class Case:
    """Which entities and seasons a check runs on, for this snapshot."""

    constructors: list[Any]
    constructor_ids: list[int]
    seasons: tuple[int, int]
    driver: Any
    driver_id: int


@pytest.fixture(scope="module")
def engine(snapshot: PublishedSnapshot) -> Iterator[Engine]:
    e = Engine(snapshot.path)
    yield e
    e.close()


@pytest.fixture(scope="module")
def case(snapshot: PublishedSnapshot) -> Case:
    if snapshot.kind == "real":
        rows = snapshot.query(
            "select constructor_id from marts.dim_constructors "
            "where constructor_ref in ('ferrari', 'mclaren', 'williams') order by 1"
        )
        (hamilton,) = snapshot.query(
            "select driver_id from marts.dim_drivers where driver_ref = 'hamilton'"
        )
        return Case(
            ["ferrari", "McLaren", "williams"],
            [r[0] for r in rows],
            (1980, 2024),
            "hamilton",
            hamilton[0],
        )
    busiest = snapshot.query(
        "select constructor_id from marts.fct_race_results group by 1 order by sum(points) desc, 1 limit 3"
    )
    (driver,) = snapshot.query(
        "select driver_id from marts.fct_race_results group by 1 order by count(*) filter (where finish_position = 1) desc, 1 limit 1"
    )
    low, high = snapshot.query("select min(season), max(season) from marts.dim_races")[0]
    ids = sorted(r[0] for r in busiest)
    return Case(ids, ids, (low, high), driver[0], driver[0])


def run(engine: Engine, **spec: Any) -> QueryResult:
    return engine.execute(validate_spec(spec))


def keyed(result: QueryResult, table: str, keys: tuple[str, ...], value: str) -> dict:
    return {tuple(r[k] for k in keys): r[value] for r in result.tables[table].records()}


def assert_close(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert math.isclose(actual[key], value, rel_tol=1e-9, abs_tol=1e-9), (
            key,
            actual[key],
            value,
        )


def constructor_points(
    snapshot: PublishedSnapshot, ids: list[int], seasons: tuple[int, int]
) -> dict:
    rows = snapshot.query(
        """
        with results as (
            select season, constructor_id, points from marts.fct_race_results
            union all
            select season, constructor_id, points from marts.fct_sprint_results
        )
        select season, constructor_id, sum(points) from results
        where season between $low and $high and list_contains($ids, constructor_id)
        group by all
        """,
        {"low": seasons[0], "high": seasons[1], "ids": ids},
    )
    return {(s, c): p for s, c, p in rows}


def test_constructor_comparison_per_season_and_overall(
    engine: Engine, snapshot: PublishedSnapshot, case: Case
) -> None:
    result = run(
        engine,
        entity="constructor",
        ids=case.constructors,
        seasons=f"{case.seasons[0]}-{case.seasons[1]}",
        metrics=["points", "wins", "head_to_head"],
        group_by=["season", "entity"],
        compare=True,
    )
    assert result.spec.ids == tuple(case.constructor_ids)
    expected_points = constructor_points(snapshot, case.constructor_ids, case.seasons)
    points = keyed(result, "rows", ("season", "entity_id"), "points")
    assert_close(
        {k: v for k, v in points.items() if v}, {k: v for k, v in expected_points.items() if v}
    )
    expected_wins = dict(
        ((s, c), w)
        for s, c, w in snapshot.query(
            "select season, constructor_id, count(distinct race_id) from marts.fct_race_results "
            "where finish_position = 1 and season between $low and $high "
            "and list_contains($ids, constructor_id) group by all",
            {"low": case.seasons[0], "high": case.seasons[1], "ids": case.constructor_ids},
        )
    )
    wins = keyed(result, "rows", ("season", "entity_id"), "wins")
    assert {k: v for k, v in wins.items() if v} == expected_wins

    comparison = result.tables["comparison"].records()
    overall = {
        (r["a_id"], r["b_id"], r["metric"]): r for r in comparison if r["scope"] == "overall"
    }
    for a, b in [
        (x, y) for i, x in enumerate(case.constructor_ids) for y in case.constructor_ids[i + 1 :]
    ]:
        total_a = sum(v for (s, c), v in expected_points.items() if c == a)
        total_b = sum(v for (s, c), v in expected_points.items() if c == b)
        row = overall[(a, b, "points")]
        assert math.isclose(row["difference"], total_a - total_b, abs_tol=1e-6)
        assert row["ahead"] == (row["a_ref"] if total_a > total_b else row["b_ref"])
        seasons_a = sum(
            1
            for s in range(case.seasons[0], case.seasons[1] + 1)
            if expected_points.get((s, a), 0) > expected_points.get((s, b), 0)
        )
        assert row["a_seasons_ahead"] == seasons_a


def test_head_to_head_equals_best_car_duels_counted_from_the_results(
    engine: Engine, snapshot: PublishedSnapshot, case: Case
) -> None:
    result = run(
        engine,
        entity="constructor",
        ids=case.constructor_ids,
        seasons=f"{case.seasons[0]}-{case.seasons[1]}",
        metrics=["head_to_head"],
        group_by=["season", "entity"],
        compare=True,
    )
    expected = snapshot.query(
        """
        with best as (
            select race_id, constructor_id, min(position_order) as best
            from marts.fct_race_results
            where is_started and season between $low and $high and list_contains($ids, constructor_id)
            group by all
        )
        select a.constructor_id, b.constructor_id,
            count(*) filter (where a.best < b.best), count(*) filter (where b.best < a.best)
        from best a join best b on a.race_id = b.race_id and a.constructor_id < b.constructor_id
        group by all
        """,
        {"low": case.seasons[0], "high": case.seasons[1], "ids": case.constructor_ids},
    )
    overall = {
        (r["a_id"], r["b_id"]): (r["a_value"], r["b_value"])
        for r in result.tables["comparison"].records()
        if r["scope"] == "overall"
    }
    assert overall == {(a, b): (x, y) for a, b, x, y in expected}


def test_a_drivers_wins_per_season(engine: Engine, snapshot: PublishedSnapshot, case: Case) -> None:
    result = run(
        engine, entity="driver", ids=[case.driver], metrics=["wins"], group_by=["season", "entity"]
    )
    expected = dict(
        snapshot.query(
            "select season, count(distinct race_id) from marts.fct_race_results "
            "where driver_id = $id and finish_position = 1 group by 1",
            {"id": case.driver_id},
        )
    )
    wins = {r["season"]: r["wins"] for r in result.tables["rows"].records()}
    assert {s: w for s, w in wins.items() if w} == expected
    seasons_raced = {
        r[0]
        for r in snapshot.query(
            "select distinct season from marts.fct_race_results where driver_id = $id",
            {"id": case.driver_id},
        )
    }
    assert seasons_raced <= set(wins)
    if snapshot.kind == "real":
        assert wins[2020] == 11 and wins[2014] == 11 and sum(wins.values()) == 105


def test_era_normalised_points_of_the_champions(
    engine: Engine, snapshot: PublishedSnapshot
) -> None:
    champions = snapshot.query(
        """
        select season, driver_id from marts.fct_driver_standings
        where position = 1
        qualify round = max(round) over (partition by season)
        """
    )
    expected = dict(
        ((s, d), p)
        for s, d, p in snapshot.query(
            f"""
            with scoring(finish_position, points) as {MODERN_SCORING},
            shared as (
                select race_id, finish_position, count(*) as drivers
                from marts.fct_race_results where finish_position is not null group by all
            )
            select r.season, r.driver_id, sum(coalesce(scoring.points, 0) / coalesce(shared.drivers, 1))
            from marts.fct_race_results r
            left join scoring using (finish_position)
            left join shared using (race_id, finish_position)
            group by all
            """
        )
    )
    ids = sorted({d for _, d in champions})
    result = run(
        engine,
        entity="driver",
        ids=ids,
        metrics=["era_points"],
        group_by=["season", "entity"],
        limit=10000,
    )
    era = keyed(result, "rows", ("season", "entity_id"), "era_points")
    assert_close({k: era[k] for k in champions}, {k: expected[k] for k in champions})
    if snapshot.kind == "real":
        # Verstappen 2023: 19 wins, two 2nd places and a 5th, without sprints or fastest laps.
        assert len(champions) == 75 and era[(2023, 830)] == 19 * 25 + 2 * 18 + 10


def test_dnf_rate_and_points_share_are_ratios_of_sums(
    engine: Engine, snapshot: PublishedSnapshot, case: Case
) -> None:
    result = run(
        engine,
        entity="constructor",
        ids=case.constructor_ids,
        seasons=f"{case.seasons[0]}-{case.seasons[1]}",
        metrics=["dnf_rate", "points_share"],
    )
    cars = snapshot.query(
        """
        with cars as (
            select race_id, constructor_id, position_order, bool_or(is_started) as started,
                bool_or(is_dnf) as dnf
            from marts.fct_race_results where season between $low and $high group by all
        )
        select constructor_id, count(*) filter (where dnf) / count(*) filter (where started)
        from cars where list_contains($ids, constructor_id) group by 1
        """,
        {"low": case.seasons[0], "high": case.seasons[1], "ids": case.constructor_ids},
    )
    assert_close(keyed(result, "rows", ("entity_id",), "dnf_rate"), {(c,): r for c, r in cars})
    everyone = constructor_points(
        snapshot,
        [c for (c,) in snapshot.query("select constructor_id from marts.dim_constructors")],
        case.seasons,
    )
    total = sum(everyone.values())
    share = {
        (c,): sum(v for (s, cc), v in everyone.items() if cc == c) / total
        for c in case.constructor_ids
    }
    assert_close(keyed(result, "rows", ("entity_id",), "points_share"), share)


def test_statistics_equal_sql_aggregates_over_the_independent_season_points(
    engine: Engine, snapshot: PublishedSnapshot, case: Case
) -> None:
    result = run(
        engine,
        entity="constructor",
        ids=case.constructor_ids,
        seasons=f"{case.seasons[0]}-{case.seasons[1]}",
        metrics=["points", "wins"],
        group_by=["season", "entity"],
        statistics=[
            "mean",
            "median",
            "stddev",
            "min",
            "max",
            "p90",
            "trend",
            {"correlation": ["points", "wins"]},
        ],
        limit=1,
    )
    assert len(result.rows) == 1  # the limit applies to rows, not to what statistics see
    expected = snapshot.query(
        """
        with points as (
            select season, constructor_id, sum(points) as points,
                count(distinct race_id) filter (where finish_position = 1) as wins
            from (
                select season, constructor_id, race_id, points, finish_position from marts.fct_race_results
                union all
                select season, constructor_id, race_id, points, null from marts.fct_sprint_results
            )
            where season between $low and $high and list_contains($ids, constructor_id)
            group by all
        )
        select constructor_id, avg(points), median(points), stddev_samp(points), min(points),
            max(points), quantile_cont(points, 0.9), regr_slope(points, season), corr(points, wins)
        from points group by 1
        """,
        {"low": case.seasons[0], "high": case.seasons[1], "ids": case.constructor_ids},
    )
    stats = {
        (r["entity_id"], r["metric"], r["statistic"]): r["value"]
        for r in result.tables["statistics"].records()
    }
    names = ["mean", "median", "stddev", "min", "max", "p90", "trend"]
    for constructor, *values in expected:
        for name, value in zip(names, values[:-1], strict=True):
            assert math.isclose(stats[(constructor, "points", name)], value, rel_tol=1e-9), name
        assert math.isclose(
            stats[(constructor, "points:wins", "correlation")], values[-1], rel_tol=1e-9
        )


def test_a_per_circuit_question_is_answered_from_the_results(
    engine: Engine, snapshot: PublishedSnapshot, case: Case
) -> None:
    result = run(
        engine,
        entity="driver",
        ids=[case.driver_id],
        metrics=["wins", "avg_grid"],
        group_by=["entity", "circuit"],
        order_by=["-wins"],
        limit=3,
    )
    expected = snapshot.query(
        "select circuit_id, count(distinct race_id) filter (where finish_position = 1) as wins "
        "from marts.fct_race_results where driver_id = $id group by 1 order by wins desc, 1 limit 1",
        {"id": case.driver_id},
    )
    top = result.tables["rows"].records()[0]
    assert top["wins"] == expected[0][1]
    assert len(result.rows) == 3 and top["circuit_name"]
