"""An analysis's description: its own text, then each query's SQL and plan compiled from the spec
and the registry alone (no snapshot), as Markdown the Dagster UI renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from p3_query.planner import build_plan
from p3_reports.analyses import load_analysis
from p3_reports.analyses.describe import STATIC_NOTE, describe, static_catalog, static_plans
from tests.fixtures.snapshots import PublishedSnapshot

ANALYSES = Path(__file__).resolve().parents[2] / "p3_dagster" / "defs" / "analyses"
DOCUMENT = {
    "name": "battle",
    "title": "Battle",
    "description": "Ferrari against Mercedes.\n",
    "queries": [
        {
            "name": "hybrid",
            "spec": {
                "entity": "constructor",
                "ids": ["mercedes", "ferrari"],
                "seasons": {"from": 2014, "to": 2020},
                "metrics": ["points", "races"],
                "group_by": ["season", "entity"],
            },
        },
        {
            "name": "ground_effect",
            "spec": {
                "entity": "constructor",
                "ids": ["mercedes", "ferrari"],
                "seasons": {"from": 2022, "to": 2024},
                "metrics": ["points", "races"],
                "group_by": ["season", "entity"],
            },
        },
    ],
    "custom_metrics": {"points_per_race": "points / races"},
    "outputs": ["csv"],
}


def _blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)\n```", markdown, flags=re.S)


def test_the_description_is_the_analysis_text_then_the_fenced_sql_and_plan() -> None:
    config, specs = load_analysis(DOCUMENT, Path("battle/defs.yaml"))
    text = describe(config, specs)

    assert text.startswith("Ferrari against Mercedes.\n")
    assert STATIC_NOTE in text
    assert text.index("Ferrari against") < text.index("```sql") < text.index("```text")
    (sql,) = _blocks(text, "sql")
    assert "from marts.mart_constructor_season as src" in sql
    assert "list_contains($ids, constructor_id)" in sql
    assert "result.points as DOUBLE) / nullif(result.races, 0)) as points_per_race" in sql
    (plan,) = _blocks(text, "text")
    assert plan.startswith("grain: one row per season x entity\nread marts.mart_constructor_season")
    assert "rewrite: points_per_race = points / races" in plan
    # Bound values show the refs as written; the placeholder ids never leak.
    assert "`$ids` = `['ferrari', 'mercedes']`" in text
    assert "`$season_from` = `2014`" in text
    assert "1000000" not in text


def test_a_query_with_the_same_sql_shows_only_its_bound_values() -> None:
    config, specs = load_analysis(DOCUMENT, Path("battle/defs.yaml"))
    text = describe(config, specs)

    assert len(_blocks(text, "sql")) == 1
    assert "SQL and plan as `hybrid`, with `$season_from` = `2022`, `$season_to` = `2024`" in text


def test_the_static_plan_is_the_plan_without_a_snapshot() -> None:
    config, specs = load_analysis(DOCUMENT, Path("battle/defs.yaml"))
    catalog = static_catalog(specs)
    (hybrid, _) = static_plans(config, specs)

    assert hybrid.sql == build_plan(specs[0], catalog).main.sql.strip()
    assert hybrid.params["ids"] == ["ferrari", "mercedes"]
    assert catalog.build_id == "not opened" and catalog.season_ranges == {}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in ANALYSES.iterdir() if p.is_dir()))
def test_the_described_sql_is_what_the_planner_builds_on_the_snapshot(
    snapshot: PublishedSnapshot, name: str
) -> None:
    """The static ranking of sources (marts before event tables) is the one the snapshot's row
    counts give, so the described SQL is the SQL that runs. A query estimated to read nothing
    (a 1950s decade on the 2020-2024 demo data) picks by name on both sides and is not compared."""
    from p3_dagster.lib.components.analysis import load_declared

    config, specs = load_declared(ANALYSES / name / "defs.yaml", name)
    catalog = snapshot.catalog()
    compared = 0
    for static, spec in zip(static_plans(config, specs), specs, strict=True):
        dim = catalog.dims[spec.entity]
        if any(isinstance(i, str) and i not in dim.by_ref for i in spec.ids):
            # The demo data lacks the named refs (fallback_top): same statement, other ids.
            spec = spec.with_ids(sorted(dim.labels)[:3])
        plan = build_plan(spec, catalog)
        if plan.estimated_rows == 0:
            continue
        assert static.sql == plan.main.sql.strip(), static.name
        compared += 1
    assert compared > 0
