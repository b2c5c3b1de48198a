"""The planner: from a resolved spec to SQL over the cheapest sources, and an EXPLAIN of the plan.

SQL is assembled only from registry constants and whitelisted names; every value a user gave
(ids, seasons, limit) travels as a bound parameter.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog
from .expressions import check_metric, compile_sql
from .registry import (
    GROUP_KEYS,
    HEAD_TO_HEAD_SQL,
    METRICS,
    Entity,
    Formula,
    Source,
    answering_formulas,
    base_metrics,
    why_not,
)
from .spec import QuerySpec, SpecError

# How each entity is labelled in results: dim table, id column, ref and name expressions.
_LABELS: dict[Entity, tuple[str, str, str, str]] = {
    "driver": ("marts.dim_drivers", "driver_id", "entities.driver_ref", "entities.full_name"),
    "constructor": (
        "marts.dim_constructors",
        "constructor_id",
        "entities.constructor_ref",
        "entities.constructor_name",
    ),
    "circuit": (
        "marts.dim_circuits",
        "circuit_id",
        "entities.circuit_ref",
        "entities.circuit_name",
    ),
    "race": (
        "marts.dim_races",
        "race_id",
        "entities.season || '-' || entities.round",
        "entities.season || ' ' || entities.race_name",
    ),
}
# Output column of each group key in the source CTEs and the result.
_KEY_COLUMN = {"season": "season", "circuit": "circuit_id", "entity": "entity_id"}
# Columns an order_by field sorts on.
_ORDER_COLUMN = {"season": "season", "circuit": "circuit_name", "entity": "entity_name"}


class PlanError(SpecError):
    """The spec is valid but this snapshot cannot answer it."""


@dataclass(frozen=True)
class SqlQuery:
    """A SQL statement and its named parameters."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SourceChoice:
    """A source the plan reads, the base metrics it computes, and what it was estimated to cost."""

    source: Source
    metrics: tuple[str, ...]
    table_rows: int
    estimated_rows: int
    filters: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    """An alternative the planner weighed for a base metric."""

    metric: str
    table: str
    estimated_rows: int
    chosen: bool
    rejected_because: str | None = None


@dataclass(frozen=True)
class Plan:
    """Everything needed to answer a resolved spec, and to explain how."""

    spec: QuerySpec
    build_id: str
    group_by: tuple[str, ...]
    output_metrics: tuple[str, ...]
    choices: tuple[SourceChoice, ...]
    candidates: tuple[Candidate, ...]
    rewrites: tuple[str, ...]
    main: SqlQuery
    overall: SqlQuery | None = None
    head_to_head: SqlQuery | None = None
    limit_in_sql: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def estimated_rows(self) -> int:
        """Rows the plan is estimated to scan, summed over its sources."""
        return sum(c.estimated_rows for c in self.choices)

    def explain(self) -> dict[str, Any]:
        """The plan in words and numbers (a JSON-able dict)."""
        return {
            "build_id": self.build_id,
            "query_hash": self.spec.query_hash,
            "spec": self.spec.model_dump(mode="json"),
            "group_by": list(self.group_by),
            "sources": [
                {
                    "table": c.source.table,
                    "source": c.source.name,
                    "metrics": list(c.metrics),
                    "table_rows": c.table_rows,
                    "estimated_rows": c.estimated_rows,
                    "filters_pushed_down": list(c.filters),
                }
                for c in self.choices
            ],
            "estimated_rows": self.estimated_rows,
            "alternatives": [
                {
                    "metric": c.metric,
                    "table": c.table,
                    "estimated_rows": c.estimated_rows,
                    "chosen": c.chosen,
                    **({"rejected_because": c.rejected_because} if c.rejected_because else {}),
                }
                for c in self.candidates
            ],
            "rewrites": list(self.rewrites),
            "sql": self.main.sql,
            "params": self.main.params,
            **({"overall_sql": self.overall.sql} if self.overall else {}),
            **({"head_to_head_sql": self.head_to_head.sql} if self.head_to_head else {}),
            "notes": list(self.notes),
        }

    def explain_text(self) -> str:
        """The plan as a few readable lines, then the SQL."""
        lines = [
            f"build {self.build_id}, query {self.spec.query_hash[:16]}",
            f"grain: one row per {' x '.join(self.group_by)}",
        ]
        for c in self.choices:
            filters = " and ".join(c.filters) or "none"
            lines.append(
                f"read {c.source.table} ({c.table_rows:,} rows, ~{c.estimated_rows:,} after "
                f"filters) for {', '.join(c.metrics)}; pushed down: {filters}"
            )
        passed_over: dict[tuple[str, str], list[str]] = {}
        for candidate in self.candidates:
            if not candidate.chosen:
                why = candidate.rejected_because or f"costlier (~{candidate.estimated_rows:,} rows)"
                passed_over.setdefault((candidate.table, why), []).append(candidate.metric)
        for (table, why), metrics in passed_over.items():
            lines.append(f"not {table} for {', '.join(metrics)}: {why}")
        lines.extend(f"rewrite: {r}" for r in self.rewrites)
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(f"estimated rows scanned: {self.estimated_rows:,}")
        lines.append("sql:")
        lines.append(self.main.sql)
        lines.append(f"params: {self.main.params}")
        return "\n".join(lines)


class _Params:
    """Named parameters, added only when the SQL uses them (DuckDB rejects unused ones)."""

    def __init__(self, spec: QuerySpec) -> None:
        self._spec = spec
        self.values: dict[str, Any] = {}

    def season_filter(self, column: str) -> str | None:
        seasons = self._spec.seasons
        if seasons is None:
            return None
        if seasons == tuple(range(seasons[0], seasons[-1] + 1)):
            self.values["season_from"], self.values["season_to"] = seasons[0], seasons[-1]
            return f"{column} between $season_from and $season_to"
        self.values["seasons"] = list(seasons)
        return f"list_contains($seasons, {column})"

    def ids_filter(self, column: str) -> str | None:
        if not self._spec.ids:
            return None
        self.values["ids"] = [int(i) for i in self._spec.ids]
        return f"list_contains($ids, {column})"

    def limit(self) -> str:
        self.values["limit"] = self._spec.limit
        return "$limit"


def build_plan(spec: QuerySpec, catalog: Catalog) -> Plan:
    """Plan a spec against a snapshot: resolve ids, pick sources, rewrite, generate SQL."""
    spec = catalog.resolve(spec)
    group_by = tuple(k for k in GROUP_KEYS if k in spec.group_by)
    output_metrics = tuple(m for m in spec.metrics if not METRICS[m].pairwise) + tuple(
        c.name for c in spec.custom_metrics
    )
    post_processing = bool(spec.statistics) or spec.compare
    notes: list[str] = []
    main = overall = None
    choices: tuple[SourceChoice, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    rewrites: tuple[str, ...] = ()
    if output_metrics:
        main, choices, candidates, rewrites = _metrics_query(
            spec, catalog, group_by, output_metrics, limit=not post_processing
        )
        if spec.compare and "season" in group_by:
            overall_keys = tuple(k for k in group_by if k != "season")
            overall, *_ = _metrics_query(spec, catalog, overall_keys, output_metrics, limit=False)
            notes.append(
                "overall comparison re-aggregates all selected seasons (not a sum of ratios)"
            )
    else:
        main = SqlQuery("", {})
    head_to_head = _head_to_head_query(spec) if "head_to_head" in spec.metrics else None
    if head_to_head is not None:
        notes.append(
            f"head_to_head from {_head_to_head_table(spec.entity)}, per season and overall"
        )
    if post_processing and output_metrics:
        notes.append("limit and order applied after statistics/comparison, on the full result")
    if spec.statistics:
        notes.append(f"statistics ({', '.join(spec.statistics)}) computed on the result rows")
    return Plan(
        spec=spec,
        build_id=catalog.build_id,
        group_by=group_by,
        output_metrics=output_metrics,
        choices=choices,
        candidates=candidates,
        rewrites=rewrites,
        main=main,
        overall=overall,
        head_to_head=head_to_head,
        limit_in_sql=not post_processing,
        notes=tuple(notes),
    )


# --- source selection ------------------------------------------------------------------------------


def estimate_rows(source: Source, spec: QuerySpec, catalog: Catalog) -> int:
    """Rows of ``source`` left after pushing the spec's season and id filters down.

    Selectivity assumes rows spread evenly over the table's seasons and the entity's ids.
    """
    rows = catalog.rows(source.table)
    fraction = 1.0
    span = catalog.season_ranges.get(source.table)
    if spec.seasons is not None and span is not None:
        low, high = span
        inside = sum(1 for s in spec.seasons if low <= s <= high)
        fraction *= inside / (high - low + 1)
    if spec.ids:
        fraction *= min(1.0, len(spec.ids) / catalog.entity_count(source.entity))
    return max(0, round(rows * fraction))


def choose_sources(
    spec: QuerySpec, catalog: Catalog, group_by: frozenset[str], bases: Iterable[str]
) -> tuple[dict[str, Formula], list[Candidate]]:
    """Pick, for every base metric, a formula such that the set of sources read is cheapest.

    Costs are estimated rows scanned; the cheapest covering set of sources wins (fewer sources on
    a tie), and each metric is computed on the cheapest chosen source that can answer it.
    """
    bases = list(bases)
    usable: dict[str, tuple[Formula, ...]] = {}
    rejected: list[Candidate] = []
    for base in bases:
        formulas, _ = answering_formulas(base, spec.entity, group_by, spec.seasons is not None)
        if not formulas:
            _, reasons = answering_formulas(base, spec.entity, group_by, spec.seasons is not None)
            raise PlanError(f"no source can answer {base!r} here: {'; '.join(reasons)}")
        usable[base] = formulas
        for formula in METRICS[base].formulas.get(spec.entity, ()):
            if formula not in formulas:
                rejected.append(
                    Candidate(
                        base,
                        formula.source.table,
                        estimate_rows(formula.source, spec, catalog),
                        chosen=False,
                        rejected_because=why_not(formula, group_by, spec.seasons is not None),
                    )
                )
    sources = sorted({f.source for fs in usable.values() for f in fs}, key=lambda s: s.name)
    cost = {s: estimate_rows(s, spec, catalog) for s in sources}
    best: tuple[int, int, tuple[str, ...]] | None = None
    best_set: tuple[Source, ...] = ()
    for size in range(1, len(sources) + 1):
        for subset in itertools.combinations(sources, size):
            if all(any(f.source in subset for f in usable[b]) for b in bases):
                key = (sum(cost[s] for s in subset), size, tuple(s.name for s in subset))
                if best is None or key < best:
                    best, best_set = key, subset
    assignment: dict[str, Formula] = {}
    candidates: list[Candidate] = []
    for base in bases:
        options = [f for f in usable[base] if f.source in best_set]
        chosen = min(options, key=lambda f: (cost[f.source], f.source.name))
        assignment[base] = chosen
        for formula in usable[base]:
            candidates.append(
                Candidate(
                    base, formula.source.table, cost[formula.source], chosen=formula is chosen
                )
            )
    return assignment, candidates + rejected


# --- SQL generation ----------------------------------------------------------------------------------


def _metrics_query(
    spec: QuerySpec,
    catalog: Catalog,
    group_by: tuple[str, ...],
    metrics: tuple[str, ...],
    *,
    limit: bool,
) -> tuple[SqlQuery, tuple[SourceChoice, ...], tuple[Candidate, ...], tuple[str, ...]]:
    grain = frozenset(group_by)
    custom = {c.name: c for c in spec.custom_metrics}
    # Registry metrics computed in the result: those asked for and those custom metrics read.
    inputs = tuple(m for m in metrics if m not in custom) + spec.custom_inputs()
    bases = list(dict.fromkeys(b for m in inputs for b in base_metrics(m)))
    assignment, candidates = choose_sources(spec, catalog, grain, bases)
    params = _Params(spec)
    keys = [_KEY_COLUMN[k] for k in group_by]
    rewrites: list[str] = []

    by_source: dict[Source, list[str]] = {}
    for base in bases:
        by_source.setdefault(assignment[base].source, []).append(base)
    ctes: list[str] = []
    choices: list[SourceChoice] = []
    cte_names: list[str] = []
    for index, (source, source_bases) in enumerate(by_source.items(), start=1):
        name = f"source_{index}"
        cte_names.append(name)
        filters = _filters(source, params, with_ids=True)
        aggregates = [f"{assignment[b].aggregate_sql()} as m_{b}" for b in source_bases]
        ctes.append(_aggregate_cte(name, source, group_by, aggregates, filters))
        choices.append(
            SourceChoice(
                source,
                tuple(source_bases),
                catalog.rows(source.table),
                estimate_rows(source, spec, catalog),
                tuple(filters),
            )
        )
        for base in source_bases:
            formula = assignment[base]
            if formula.rollup.value == "any" and not source.atomic and grain != source.grain:
                rewrites.append(
                    f"{base}: {formula.kind} of {source.table} per "
                    f"{' x '.join(sorted(source.grain))}, rolled up to {' x '.join(group_by)}"
                )

    select_metrics: list[str] = []
    totals: list[str] = []
    for metric_name in inputs:
        metric = METRICS[metric_name]
        if metric.ratio:
            num, den = metric.ratio
            select_metrics.append(f"cast(m_{num} as DOUBLE) / nullif(m_{den}, 0) as {metric_name}")
            rewrites.append(
                f"{metric_name} = {num} / {den}: both summed over the group first "
                "(ratio of sums, exact at any grain)"
            )
        elif metric.share_of:
            base = metric.share_of
            total = f"total_{base}"
            if total not in totals:
                totals.append(total)
                ctes.append(_total_cte(total, assignment[base], group_by, params))
            share_keys = [k for k in group_by if k != "entity"]
            select_metrics.append(
                f"cast(m_{base} as DOUBLE) / nullif({total}.total, 0) as {metric_name}"
            )
            scope = " x ".join(share_keys) if share_keys else "all selected seasons"
            rewrites.append(
                f"{metric_name} = {base} / {base} of every {spec.entity} in the same "
                f"{scope} (denominator without the id filter)"
            )
        else:
            select_metrics.append(f"m_{metric_name} as {metric_name}")

    if len(cte_names) == 1:
        from_sql = cte_names[0]
    else:
        unions = " union ".join(f"select {', '.join(keys)} from {n}" for n in cte_names)
        ctes.append(f"group_keys as ({unions})")
        joins = " ".join(f"left join {n} using ({', '.join(keys)})" for n in cte_names)
        from_sql = f"group_keys {joins}"
    for total in totals:
        share_keys = [_KEY_COLUMN[k] for k in group_by if k != "entity"]
        if share_keys:
            from_sql += f" left join {total} using ({', '.join(share_keys)})"
        else:
            from_sql += f" cross join {total}"

    ctes.append(
        "result as (\n    select " + ", ".join(keys + select_metrics) + f"\n    from {from_sql}\n)"
    )
    label_columns, label_joins = _labels(spec.entity, group_by)
    outputs: list[str] = []
    for name in metrics:
        if name in custom:
            outputs.append(
                f"{_custom_sql(spec, custom[name].expression, group_by, params)} as {name}"
            )
            rewrites.append(f"{name} = {' '.join(custom[name].expression.split())}")
        else:
            outputs.append(f"result.{name}")
    ctes.append(
        "labelled as (\n    select "
        + ", ".join(label_columns + outputs)
        + "\n    from result"
        + "".join(f"\n    {j}" for j in label_joins)
        + "\n)"
    )
    sql = "with\n" + ",\n".join(ctes) + "\nselect * from labelled\n"
    sql += "order by " + ", ".join(_order_terms(spec, group_by))
    if limit:
        sql += f"\nlimit {params.limit()}"
    return SqlQuery(sql, params.values), tuple(choices), tuple(candidates), tuple(rewrites)


def _custom_sql(
    spec: QuerySpec, expression: str, group_by: tuple[str, ...], params: _Params
) -> str:
    """A custom metric over the result's metric columns; its aggregates run over the rows that
    share the non-entity group keys (every entity of the same season, say)."""
    partition = [f"result.{_KEY_COLUMN[k]}" for k in group_by if k != "entity"]
    checked = check_metric(expression, spec.entity)
    return compile_sql(
        checked, lambda name: f"result.{name}", params.values, prefix="x_", partition_by=partition
    )


def _filters(source: Source, params: _Params, *, with_ids: bool) -> list[str]:
    filters = [source.where] if source.where else []
    if source.season_column:
        season = params.season_filter(source.season_column)
        if season:
            filters.append(season)
    if with_ids:
        ids = params.ids_filter(source.entity_column)
        if ids:
            filters.append(ids)
    return filters


def _aggregate_cte(
    name: str,
    source: Source,
    group_by: tuple[str, ...],
    aggregates: list[str],
    filters: list[str],
) -> str:
    key_select = [_key_select(source, k) for k in group_by]
    group = [_key_expression(source, k) for k in group_by]
    lines = [f"{name} as (", "    select\n        " + ",\n        ".join(key_select + aggregates)]
    lines.append(f"    from {source.from_sql} as src")
    if filters:
        lines.append("    where " + " and ".join(filters))
    lines.append("    group by " + ", ".join(group) + "\n)")
    return "\n".join(lines)


def _total_cte(name: str, formula: Formula, group_by: tuple[str, ...], params: _Params) -> str:
    source = formula.source
    share_keys = tuple(k for k in group_by if k != "entity")
    filters = _filters(source, params, with_ids=False)
    select = [_key_select(source, k) for k in share_keys] + [f"{formula.aggregate_sql()} as total"]
    lines = [f"{name} as (", "    select " + ", ".join(select)]
    lines.append(f"    from {source.from_sql} as src")
    if filters:
        lines.append("    where " + " and ".join(filters))
    if share_keys:
        lines.append("    group by " + ", ".join(_key_expression(source, k) for k in share_keys))
    lines[-1] += "\n)"
    return "\n".join(lines)


def _key_expression(source: Source, key: str) -> str:
    return source.entity_column if key == "entity" else source.keys[key]


def _key_select(source: Source, key: str) -> str:
    return f"{_key_expression(source, key)} as {_KEY_COLUMN[key]}"


def _labels(entity: Entity, group_by: tuple[str, ...]) -> tuple[list[str], list[str]]:
    columns: list[str] = []
    joins: list[str] = []
    if "season" in group_by:
        columns.append("result.season")
    if "circuit" in group_by:
        columns += [
            "result.circuit_id",
            "circuits.circuit_ref as circuit_ref",
            "circuits.circuit_name as circuit_name",
        ]
        joins.append(
            "left join marts.dim_circuits as circuits on circuits.circuit_id = result.circuit_id"
        )
    if "entity" in group_by:
        table, id_column, ref, name = _LABELS[entity]
        columns += [
            "result.entity_id",
            f"cast({ref} as VARCHAR) as entity_ref",
            f"{name} as entity_name",
        ]
        joins.append(f"left join {table} as entities on entities.{id_column} = result.entity_id")
    return columns, joins


def _order_terms(spec: QuerySpec, group_by: tuple[str, ...]) -> list[str]:
    terms: list[str] = []
    for item in spec.order_by:
        name = item.lstrip("-")
        column = _ORDER_COLUMN.get(name, name)
        if name in _ORDER_COLUMN and name not in group_by:
            continue
        terms.append(f"{column} {'desc' if item.startswith('-') else 'asc'} nulls last")
    # Ties broken by the group keys, so every run returns rows in the same order.
    defaults = [_ORDER_COLUMN[k] for k in group_by] + [_KEY_COLUMN[k] for k in group_by]
    used = {t.split()[0] for t in terms}
    terms += [f"{c} asc nulls last" for c in dict.fromkeys(defaults) if c not in used]
    return terms


def _head_to_head_table(entity: Entity) -> str:
    return (
        "marts.mart_constructor_head_to_head"
        if entity == "constructor"
        else "marts.fct_race_results"
    )


def _head_to_head_query(spec: QuerySpec) -> SqlQuery:
    params = _Params(spec)
    params.ids_filter("unused")  # binds $ids, which the template uses
    season = params.season_filter("season")
    sql = HEAD_TO_HEAD_SQL[spec.entity].format(season_filter=f"and {season}" if season else "")
    return SqlQuery(sql, params.values)
