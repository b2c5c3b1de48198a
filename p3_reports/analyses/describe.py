"""An analysis described without opening the snapshot: its SQL and plan as the planner compiles
them from the spec and the registry alone (what the code location can show when it loads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p3_query.catalog import Catalog, EntityDim
from p3_query.planner import Plan, build_plan
from p3_query.registry import ENTITIES, SOURCES
from p3_query.spec import QuerySpec

from .config import AnalysisConfig

STATIC_BUILD = "not opened"
_PLACEHOLDER = 1_000_000_000
# Without the snapshot's row counts the planner ranks sources by kind: a pre-aggregated mart holds
# one row per season x entity (or per pair), an event table one per result or stop, so the mart is
# assumed far smaller, which is what the real counts say too (hundreds vs tens of thousands).
_ASSUMED_ROWS = {False: 1_000, True: 100_000}
STATIC_NOTE = (
    "Compiled when the code location loaded, from the spec and the metric registry only: the "
    "snapshot is not opened then, so refs are shown as written (resolved to ids when the "
    "analysis runs) and sources are picked without row counts (pre-aggregated marts ranked "
    "before event tables). Each materialisation re-plans on the published snapshot; the SQL "
    "and plan it ran, with row estimates, are in its metadata."
)


@dataclass(frozen=True)
class StaticPlan:
    """One query's plan compiled without the snapshot."""

    name: str
    sql: str
    params: dict[str, Any]
    plan_text: str


def static_catalog(specs: tuple[QuerySpec, ...]) -> Catalog:
    """A catalog that knows no snapshot: placeholder ids for the refs the specs name, and each
    source's assumed size by kind (``_ASSUMED_ROWS``)."""
    dims: dict[Any, EntityDim] = {}
    for entity in ENTITIES:
        items = sorted(
            {i for s in specs if s.entity == entity for i in s.ids}, key=lambda i: (str(type(i)), i)
        )
        by_ref: dict[str, int] = {}
        labels: dict[int, tuple[str, str]] = {}
        for placeholder, item in enumerate(items, start=1):
            if isinstance(item, int):
                labels[item] = (str(item), str(item))
            else:
                # Far above any Ergast id, so a placeholder cannot pass for a real one.
                by_ref[item] = _PLACEHOLDER + placeholder
                labels[_PLACEHOLDER + placeholder] = (item, item)
        dims[entity] = EntityDim(entity, f"({entity} refs)", f"{entity}_id", by_ref, labels)
    row_counts = {s.table: _ASSUMED_ROWS[s.atomic] for s in SOURCES}
    return Catalog(STATIC_BUILD, row_counts, {}, dims)


def static_plans(config: AnalysisConfig, specs: tuple[QuerySpec, ...]) -> list[StaticPlan]:
    """Each query's SQL, bound values and plan, compiled from the spec and the registry only."""
    catalog = static_catalog(specs)
    plans: list[StaticPlan] = []
    for query, spec in zip(config.queries, specs, strict=True):
        plan = build_plan(spec, catalog)
        labels = catalog.dims[spec.entity].labels
        params = {
            k: [labels[i][0] for i in v] if k == "ids" else v for k, v in plan.main.params.items()
        }
        plans.append(StaticPlan(query.name, plan.main.sql.strip(), params, plan_text(plan)))
    return plans


def plan_text(plan: Plan) -> str:
    """The plan's choices in words, without the row counts only the snapshot knows."""
    lines = [f"grain: one row per {' x '.join(plan.group_by)}"]
    for choice in plan.choices:
        filters = " and ".join(choice.filters) or "none"
        lines.append(
            f"read {choice.source.table} for {', '.join(choice.metrics)}; pushed down: {filters}"
        )
    weighed: dict[str, list[str]] = {}
    for candidate in plan.candidates:
        if not candidate.chosen:
            why = candidate.rejected_because or "weighed on row counts when it runs"
            weighed.setdefault(f"not {candidate.table}: {why}", []).append(candidate.metric)
    lines += [f"{text} ({', '.join(metrics)})" for text, metrics in weighed.items()]
    lines += [f"rewrite: {r}" for r in plan.rewrites]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)


def describe(config: AnalysisConfig, specs: tuple[QuerySpec, ...]) -> str:
    """Markdown for the asset's description: the analysis's own description, then each query's
    SQL (fenced ``sql``) and plan (fenced ``text``); a query whose SQL repeats an earlier one's
    shows only its bound values."""
    parts = [config.description.strip(), "", f"_{STATIC_NOTE}_"]
    seen: dict[str, str] = {}
    for plan in static_plans(config, specs):
        parts += ["", f"**Query `{plan.name}`**", ""]
        values = _params(plan.params)
        if plan.sql in seen:
            parts.append(f"SQL and plan as `{seen[plan.sql]}`, with {values}.")
            continue
        seen[plan.sql] = plan.name
        parts += ["```sql", plan.sql, "```", "", f"Bound values: {values}.", ""]
        parts += ["Plan:", "", "```text", plan.plan_text, "```"]
    if config.series:
        parts += [
            "",
            "**Derived series**: "
            + ", ".join(f"`{s.name}` ({s.kind} of {s.column})" for s in config.series),
        ]
    return "\n".join(parts)


def _params(params: dict[str, Any]) -> str:
    if not params:
        return "no bound values"
    return ", ".join(f"`${k}` = `{v}`" for k, v in params.items())
