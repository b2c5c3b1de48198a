"""The planner: cheapest capable source, filters pushed down, derived metrics rewritten, EXPLAIN."""

from __future__ import annotations

from typing import Any

import pytest

from p3_query.catalog import Catalog
from p3_query.planner import Plan, build_plan
from p3_query.spec import SpecError, validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow  # the session snapshot fixture builds the whole graph


def top_ids(snapshot: PublishedSnapshot, entity: str, n: int) -> list[int]:
    """The n entities with most race results, so tests work on the real and the demo data."""
    column = {"driver": "driver_id", "constructor": "constructor_id", "circuit": "circuit_id"}[
        entity
    ]
    rows = snapshot.query(
        f"select {column} from marts.fct_race_results group by 1 order by count(*) desc, 1 limit {n}"
    )
    return [r[0] for r in rows]


def plan(catalog: Catalog, **spec: Any) -> Plan:
    return build_plan(validate_spec(spec), catalog)


def tables(p: Plan) -> list[str]:
    return [c.source.table for c in p.choices]


def test_season_questions_read_the_small_season_mart(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    p = plan(
        catalog,
        entity="constructor",
        ids=top_ids(snapshot, "constructor", 3),
        metrics=["points", "wins", "dnf_rate"],
        group_by=["season", "entity"],
    )
    assert tables(p) == ["marts.mart_constructor_season"]
    explained = p.explain()
    assert explained["sources"][0]["table_rows"] == catalog.rows("marts.mart_constructor_season")
    assert any(
        a["table"] == "marts.fct_race_results" and not a["chosen"]
        for a in explained["alternatives"]
    )


def test_per_circuit_questions_fall_back_to_the_results(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    p = plan(
        catalog,
        entity="driver",
        ids=top_ids(snapshot, "driver", 1),
        metrics=["wins", "avg_grid"],
        group_by=["entity", "circuit"],
    )
    assert tables(p) == ["marts.fct_race_results"]
    reasons = [a.rejected_because for a in p.candidates if not a.chosen]
    assert "marts.mart_driver_season has no circuit to group by" in reasons


def test_values_kept_at_their_own_grain_are_not_rolled_up(catalog: Catalog) -> None:
    per_season = plan(
        catalog, entity="constructor", metrics=["pit_stop_median"], group_by=["season", "entity"]
    )
    overall = plan(catalog, entity="constructor", metrics=["pit_stop_median"])
    assert tables(per_season) == ["marts.mart_pit_stop_performance"]
    assert tables(overall) == ["marts.fct_pit_stops"]
    assert any(
        "exact only when grouped by exactly that" in (c.rejected_because or "")
        for c in overall.candidates
    )


def test_all_time_circuit_figures_come_from_the_circuit_mart_unless_seasons_are_filtered(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    ids = top_ids(snapshot, "circuit", 2)
    assert tables(plan(catalog, entity="circuit", ids=ids, metrics=["races"])) == [
        "marts.mart_circuit_history"
    ]
    first = snapshot.query("select min(season) from marts.dim_races")[0][0]
    filtered = plan(catalog, entity="circuit", ids=ids, metrics=["races"], seasons=[first])
    assert tables(filtered) == ["marts.fct_race_results"]


def test_metrics_from_two_marts_are_joined_on_the_group_keys(catalog: Catalog) -> None:
    p = plan(
        catalog,
        entity="driver",
        metrics=["era_points", "teammate_duels"],
        group_by=["season", "entity"],
    )
    assert sorted(tables(p)) == ["marts.mart_driver_season", "marts.mart_teammate_head_to_head"]
    assert "group_keys as (" in p.main.sql


def test_filters_are_pushed_into_every_source_as_bound_parameters(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    refs = snapshot.query(
        "select constructor_ref from marts.dim_constructors order by constructor_id limit 2"
    )
    p = plan(
        catalog,
        entity="constructor",
        ids=[r[0] for r in refs],
        seasons=[2020, 2022],
        metrics=["wins", "pit_stop_median"],
        group_by=["season", "entity"],
        limit=7,
    )
    for choice in p.choices:
        assert "list_contains($seasons, season)" in choice.filters
        assert "list_contains($ids, constructor_id)" in choice.filters
    assert p.main.params["seasons"] == [2020, 2022]
    assert p.main.params["limit"] == 7
    assert sorted(p.main.params["ids"]) == sorted(p.spec.ids)
    for (ref,) in refs:
        assert ref not in p.main.sql  # refs were resolved to ids and bound, never written into SQL
    assert "$limit" in p.main.sql


def test_derived_metrics_are_rewritten_into_base_metrics(catalog: Catalog) -> None:
    p = plan(
        catalog,
        entity="driver",
        metrics=["dnf_rate", "points_share"],
        group_by=["season", "entity"],
    )
    assert any(r.startswith("dnf_rate = dnfs / starts") for r in p.rewrites)
    assert any(r.startswith("points_share = points / points of every driver") for r in p.rewrites)
    assert "total_points as (" in p.main.sql
    assert "nullif(m_starts, 0)" in p.main.sql


def test_explain_gives_the_plan_in_words_and_numbers(catalog: Catalog) -> None:
    p = plan(catalog, entity="driver", metrics=["wins", "dnf_rate"], seasons="2020-2021")
    text = p.explain_text()
    assert f"build {catalog.build_id}" in text
    assert "read marts.mart_driver_season" in text
    assert "season between $season_from and $season_to" in text
    assert "rewrite: dnf_rate = dnfs / starts" in text
    assert "estimated rows scanned:" in text
    explained = p.explain()
    assert explained["query_hash"] == p.spec.query_hash
    assert explained["params"] == {"season_from": 2020, "season_to": 2021, "limit": 1000}
    assert explained["estimated_rows"] > 0


def test_a_comparison_plans_an_overall_query_and_the_head_to_head(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    p = plan(
        catalog,
        entity="constructor",
        ids=top_ids(snapshot, "constructor", 3),
        metrics=["points", "head_to_head"],
        group_by=["season", "entity"],
        compare=True,
    )
    assert p.overall is not None and "group by constructor_id" in p.overall.sql
    assert p.head_to_head is not None and "mart_constructor_head_to_head" in p.head_to_head.sql
    assert not p.limit_in_sql


def test_unknown_ids_are_rejected_with_suggestions(catalog: Catalog) -> None:
    ref = sorted(catalog.dims["constructor"].by_ref)[0]
    typo = ref[:-1] + ("x" if ref[-1] != "x" else "y")
    with pytest.raises(SpecError, match=f"unknown constructor '{typo}'.*did you mean '{ref}'"):
        plan(catalog, entity="constructor", ids=[typo], metrics=["wins"])
    with pytest.raises(SpecError, match="unknown driver id 999999"):
        plan(catalog, entity="driver", ids=[999999], metrics=["wins"])


def test_refs_and_ids_resolve_to_the_same_normal_form(
    snapshot: PublishedSnapshot, catalog: Catalog
) -> None:
    ((driver_id, ref),) = snapshot.query(
        "select driver_id, driver_ref from marts.dim_drivers order by driver_id limit 1"
    )
    by_ref = plan(catalog, entity="driver", ids=[ref.upper()], metrics=["wins"])
    by_id = plan(catalog, entity="driver", ids=[driver_id], metrics=["wins"])
    assert by_ref.spec.query_hash == by_id.spec.query_hash
    assert by_ref.main == by_id.main


@pytest.mark.parametrize(
    "spec",
    [
        {
            "entity": "driver",
            "metrics": ["wins", "positions_gained", "lap_pace_gap"],
            "group_by": ["season", "entity", "circuit"],
        },
        {
            "entity": "constructor",
            "metrics": ["podiums", "era_points_share", "avg_finish"],
            "group_by": ["season"],
        },
        {
            "entity": "circuit",
            "metrics": ["dnf_rate", "pole_win_rate", "pit_stop_median"],
            "group_by": ["season", "entity"],
        },
        {
            "entity": "race",
            "metrics": ["mechanical_dnf_rate", "pit_stops", "positions_gained"],
            "order_by": ["-pit_stops"],
        },
        {
            "entity": "driver",
            "metrics": [
                "championship_position",
                "official_points",
                "win_rate",
                "teammate_quali_duels_share",
            ],
        },
    ],
)
def test_every_kind_of_plan_runs_on_the_snapshot(
    snapshot: PublishedSnapshot, catalog: Catalog, spec: dict[str, Any]
) -> None:
    p = plan(catalog, **spec)
    with snapshot.connect() as con:
        cursor = con.execute(p.main.sql, p.main.params)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    assert rows
    assert columns[-len(p.output_metrics) :] == list(p.output_metrics)
