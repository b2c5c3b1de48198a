"""Custom metrics in query specs: validation, hashes, and answers on the published snapshot equal
to independent SQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from p3_query.engine import Engine
from p3_query.spec import SpecError, validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

BASE = {"entity": "constructor", "metrics": ["points"], "group_by": ["season", "entity"]}


def test_a_spec_without_custom_metrics_keeps_its_hash() -> None:
    spec = validate_spec(BASE)
    assert "custom_metrics" not in spec.canonical_json()
    with_custom = validate_spec(BASE | {"custom_metrics": {"ppr": "points / races"}})
    assert with_custom.query_hash != spec.query_hash


def test_custom_metrics_alone_are_a_valid_question() -> None:
    spec = validate_spec(BASE | {"metrics": [], "custom_metrics": {"ppr": "points / races"}})
    assert [c.name for c in spec.custom_metrics] == ["ppr"]
    with pytest.raises(SpecError, match="at least one metric"):
        validate_spec(BASE | {"metrics": []})


def test_a_bad_expression_fails_the_spec_with_its_position() -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec(BASE | {"custom_metrics": {"ppr": "points / racez"}})
    message = str(caught.value)
    assert "custom metric 'ppr': line 1, column 10: unknown metric 'racez'" in message
    assert "^^^^^" in message


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"points": "wins * 2"}, "already a registry metric"),
        ({"Bad-Name": "wins"}, "lowercase letters"),
        ({f"m{i}": "wins" for i in range(11)}, "at most 10 are allowed"),
    ],
)
def test_bad_custom_metric_definitions_are_refused(custom: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        validate_spec(BASE | {"custom_metrics": custom})


def test_custom_metrics_are_not_compared_pairwise() -> None:
    spec = BASE | {"ids": ["ferrari", "mclaren"], "compare": True}
    with pytest.raises(SpecError, match="not compared pairwise"):
        validate_spec(spec | {"custom_metrics": {"ppr": "points / races"}})


def test_a_custom_metric_inherits_its_inputs_grain_rules() -> None:
    # The team-mate mart has no circuit: duels per circuit cannot be answered, custom or not.
    spec = {
        "entity": "driver",
        "metrics": [],
        "group_by": ["circuit", "entity"],
        "custom_metrics": {"duel_share": "teammate_race_duels_won / teammate_race_duels"},
    }
    with pytest.raises(SpecError, match="'teammate_race_duels_won' cannot be answered"):
        validate_spec(spec)
    per_season = validate_spec(spec | {"group_by": ["season", "entity"]})
    assert per_season.custom_inputs() == ("teammate_race_duels_won", "teammate_race_duels")


def test_order_by_a_custom_metric_is_allowed() -> None:
    spec = validate_spec(BASE | {"custom_metrics": {"ppr": "points / races"}, "order_by": ["-ppr"]})
    assert spec.order_by == ("-ppr",)


@pytest.fixture(scope="module")
def engine(snapshot: PublishedSnapshot) -> Iterator[Engine]:
    e = Engine(snapshot.path)
    yield e
    e.close()


@pytest.mark.slow
def test_custom_metrics_equal_independent_sql(engine: Engine, snapshot: PublishedSnapshot) -> None:
    last = snapshot.query("select max(season) from marts.dim_races")[0][0]
    seasons = f"{last - 4}-{last}"
    spec = validate_spec(
        {
            "entity": "constructor",
            "seasons": seasons,
            "metrics": ["points"],
            "group_by": ["season", "entity"],
            "custom_metrics": {
                "points_per_race": "points / races",
                "share_of_season": "points / sum(points)",
                "gap_to_best": "points - max(points)",
                "bonus": "if(wins >= 1, points + 10 * wins, coalesce(podiums, 0) * 0.5)",
            },
            "order_by": ["-points_per_race"],
        }
    )
    result = engine.execute(spec)
    assert result.columns[-5:] == (
        "points",
        "points_per_race",
        "share_of_season",
        "gap_to_best",
        "bonus",
    )
    expected = {
        (season, cid): (ppr, share, gap, bonus)
        for season, cid, ppr, share, gap, bonus in snapshot.query(
            """
            select season, constructor_id,
                points / nullif(races_entered, 0),
                points / sum(points) over (partition by season),
                points - max(points) over (partition by season),
                case when wins >= 1 then points + 10 * wins else coalesce(podiums, 0) * 0.5 end
            from marts.mart_constructor_season
            where season between $a and $b
            """,
            {"a": last - 4, "b": last},
        )
    }
    records = result.tables["rows"].records()
    assert len(records) == len(expected) > 0
    for record in records:
        want = expected[(record["season"], record["entity_id"])]
        got = (
            record["points_per_race"],
            record["share_of_season"],
            record["gap_to_best"],
            record["bonus"],
        )
        assert got == pytest.approx(want, nan_ok=True)
    ordered = [r["points_per_race"] for r in records]
    assert ordered == sorted(ordered, key=lambda v: (v is None, -(v or 0)))
    plan = engine.explain(spec).explain_text()
    assert "rewrite: points_per_race = points / races" in plan
