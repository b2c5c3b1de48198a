"""The metric registry: every formula runs on the snapshot, and every source of a metric agrees."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from p3_query.registry import (
    ENTITIES,
    HEAD_TO_HEAD_SQL,
    METRICS,
    Formula,
    Rollup,
    base_metrics,
    metrics_for,
)
from tests.fixtures.snapshots import PublishedSnapshot

# (metric, entity) pairs answered by more than one source: the planner may pick either, so they
# must give the same numbers wherever both have rows.
MULTI_SOURCE = sorted(
    (name, entity)
    for name, metric in METRICS.items()
    for entity, formulas in metric.formulas.items()
    if len(formulas) > 1
)


def test_the_query_spec_document_lists_every_metric_of_the_registry() -> None:
    document = Path(__file__).resolve().parents[2] / "docs" / "query-spec.md"
    metrics_section = document.read_text().split("\n## Metrics\n")[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", metrics_section, flags=re.MULTILINE))
    assert set(METRICS) - listed == set(), "metrics missing from docs/query-spec.md"
    assert listed - set(METRICS) == set(), "docs/query-spec.md lists metrics the registry lacks"


def test_every_metric_is_described_and_derived_metrics_rest_on_base_metrics() -> None:
    for name, metric in METRICS.items():
        assert metric.description, name
        if metric.pairwise:
            continue
        for base in base_metrics(name):
            assert METRICS[base].formulas, f"{name} rests on {base}, which has no formulas"
        for entity in metric.pairwise:
            assert entity in HEAD_TO_HEAD_SQL
    assert {"points", "era_points", "wins", "dnf_rate", "head_to_head"} <= set(
        metrics_for("driver")
    )
    assert "wins" not in metrics_for("circuit")
    assert set(ENTITIES) == {"driver", "constructor", "circuit", "race"}


def _per_key(snapshot: PublishedSnapshot, formula: Formula, with_season: bool) -> dict:
    source = formula.source
    keys = [source.entity_column] + ([source.keys["season"]] if with_season else [])
    where = f"where {source.where}" if source.where else ""
    rows = snapshot.query(
        f"select {', '.join(keys)}, {formula.aggregate_sql()} from {source.from_sql} as src "
        f"{where} group by all"
    )
    return {tuple(r[:-1]): r[-1] for r in rows}


@pytest.mark.slow
@pytest.mark.parametrize(("metric", "entity"), MULTI_SOURCE)
def test_every_source_of_a_metric_gives_the_same_answer(
    snapshot: PublishedSnapshot, metric: str, entity: str
) -> None:
    formulas = METRICS[metric].formulas[entity]  # type: ignore[index]
    with_season = all("season" in f.source.keys for f in formulas)
    answers = [_per_key(snapshot, f, with_season) for f in formulas]
    reference, *others = answers
    for formula, other in zip(formulas[1:], others, strict=True):
        shared = set(reference) & set(other)
        assert shared, f"{formula.source.table} and {formulas[0].source.table} share no rows"
        for key in shared:
            a, b = reference[key], other[key]
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), (
                metric,
                entity,
                key,
                formulas[0].source.table,
                a,
                formula.source.table,
                b,
            )
        # Rows only one source has (a season with only sprints or standings) hold nothing.
        for key in set(reference) ^ set(other):
            value = reference.get(key, other.get(key))
            assert value in (0, None), (metric, entity, key, value)


@pytest.mark.slow
def test_every_formula_runs_on_the_snapshot(snapshot: PublishedSnapshot) -> None:
    for metric in METRICS.values():
        for formulas in metric.formulas.values():
            for formula in formulas:
                assert formula.rollup in (Rollup.ANY, Rollup.EXACT_GRAIN)
                assert _per_key(snapshot, formula, "season" in formula.source.keys) is not None
