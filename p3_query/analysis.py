"""Statistics and pairwise comparisons, computed with numpy on a query's (small) result."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np

from .registry import METRICS
from .result import ResultTable, plain
from .spec import QuerySpec

_PERCENTILE = re.compile(r"^p(\d{1,2})$")
_ENTITY_COLUMNS = ("entity_id", "entity_ref", "entity_name")
STATISTICS_COLUMNS = (*_ENTITY_COLUMNS, "metric", "statistic", "value", "n")
COMPARISON_COLUMNS = (
    "scope",
    "season",
    "a_id",
    "a_ref",
    "b_id",
    "b_ref",
    "metric",
    "a_value",
    "b_value",
    "difference",
    "ahead",
    "a_seasons_ahead",
    "b_seasons_ahead",
)


def statistics(rows: ResultTable, spec: QuerySpec, metrics: tuple[str, ...]) -> ResultTable:
    """Each statistic of each metric, per entity over its other rows (seasons, circuits).

    With entity as the only group key there is one row per entity, so the statistics summarise
    across entities instead (the entity columns are then empty).
    """
    per_entity = "entity" in spec.group_by and len(spec.group_by) > 1
    records = rows.records()
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["entity_id"] if per_entity else None].append(record)
    out: list[tuple[Any, ...]] = []
    for key in sorted(groups, key=lambda k: (k is None, k)):
        group = groups[key]
        labels = tuple(group[0][c] for c in _ENTITY_COLUMNS) if per_entity else (None,) * 3
        for statistic in spec.statistics:
            if statistic.startswith("correlation:"):
                _, a, b = statistic.split(":")
                pairs = [(r[a], r[b]) for r in group if r[a] is not None and r[b] is not None]
                value = _correlation(pairs)
                out.append((*labels, f"{a}:{b}", "correlation", value, len(pairs)))
                continue
            for metric in metrics:
                points = [(r.get("season"), r[metric]) for r in group if r[metric] is not None]
                value = _statistic(statistic, points)
                out.append((*labels, metric, statistic, plain(value), len(points)))
    return ResultTable(STATISTICS_COLUMNS, tuple(out))


def _statistic(name: str, points: list[tuple[Any, Any]]) -> float | None:
    if not points:
        return None
    values = np.array([float(v) for _, v in points])
    if name == "mean":
        return float(values.mean())
    if name == "median":
        return float(np.median(values))
    if name == "stddev":
        return float(values.std(ddof=1)) if values.size > 1 else None
    if name == "min":
        return float(values.min())
    if name == "max":
        return float(values.max())
    if name == "trend":
        # Least-squares slope of the metric against the season: change per season.
        seasons = np.array([float(s) for s, _ in points])
        if np.unique(seasons).size < 2:
            return None
        return float(np.polyfit(seasons, values, 1)[0])
    match = _PERCENTILE.match(name)
    if match:
        # Linear interpolation, as DuckDB's quantile_cont.
        return float(np.percentile(values, int(match.group(1)), method="linear"))
    raise ValueError(f"unknown statistic {name!r}")  # the spec validated it: a programming error


def _correlation(pairs: list[tuple[Any, Any]]) -> float | None:
    if len(pairs) < 3:
        return None
    a = np.array([float(x) for x, _ in pairs])
    b = np.array([float(y) for _, y in pairs])
    if np.unique(a).size < 2 or np.unique(b).size < 2:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def comparison(
    spec: QuerySpec,
    metrics: tuple[str, ...],
    per_season: ResultTable | None,
    overall: ResultTable | None,
    head_to_head: ResultTable | None,
    refs: dict[int, str],
) -> ResultTable:
    """Every pair of ids, per season (when grouped by season) and overall: who was ahead, by how much.

    ``overall`` holds the metrics re-aggregated over all selected seasons (so ratios are ratios
    of sums, not averages of ratios); ``a_seasons_ahead`` counts the seasons each one led.
    """
    seasonal = _index(per_season, ("season", "entity_id"))
    total = _index(overall, ("entity_id",))
    seasons = sorted({key[0] for key in seasonal})
    h2h = _index(head_to_head, ("a_id", "b_id", "season"))
    out: list[tuple[Any, ...]] = []
    for a, b in itertools.combinations(sorted(int(i) for i in spec.ids), 2):
        pair = (a, refs.get(a), b, refs.get(b))
        for metric in metrics:
            better = METRICS[metric].higher_is_better
            leads = {refs.get(a): 0, refs.get(b): 0}
            for season in seasons:
                a_row, b_row = seasonal.get((season, a)), seasonal.get((season, b))
                if a_row is None and b_row is None:
                    continue
                row = _compare(_get(a_row, metric), _get(b_row, metric), better, pair)
                leads[row[3]] = leads.get(row[3], 0) + 1
                out.append(("season", season, *pair, metric, *row, None, None))
            if overall is not None:
                row = _compare(
                    _get(total.get((a,)), metric), _get(total.get((b,)), metric), better, pair
                )
                counted = per_season is not None
                out.append(
                    ("overall", None, *pair, metric, *row)
                    + ((leads[refs.get(a)], leads[refs.get(b)]) if counted else (None, None))
                )
        if head_to_head is not None:
            out.extend(_head_to_head_rows(spec, h2h, pair))
    return ResultTable(COMPARISON_COLUMNS, tuple(tuple(plain(v) for v in r) for r in out))


def _index(
    table: ResultTable | None, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    if table is None:
        return {}
    return {tuple(r[k] for k in keys): r for r in table.records()}


def _get(row: dict[str, Any] | None, metric: str) -> Any:
    return None if row is None else row.get(metric)


def _compare(
    a_value: Any, b_value: Any, higher_is_better: bool, pair: tuple[Any, ...]
) -> tuple[Any, Any, Any, Any]:
    """(a, b, a - b, ref of the one ahead | "tie" | None when a value is missing)."""
    _, a_ref, _, b_ref = pair
    if a_value is None or b_value is None:
        return a_value, b_value, None, None
    difference = a_value - b_value
    if difference == 0:
        return a_value, b_value, difference, "tie"
    return a_value, b_value, difference, a_ref if (difference > 0) == higher_is_better else b_ref


def _head_to_head_rows(
    spec: QuerySpec, h2h: dict[tuple[Any, ...], dict[str, Any]], pair: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    a, a_ref, b, b_ref = pair
    seasonal = "season" in spec.group_by
    out: list[tuple[Any, ...]] = []
    leads = {a_ref: 0, b_ref: 0}
    a_total = b_total = 0
    for (row_a, row_b, season), record in sorted(h2h.items(), key=lambda item: item[0][2]):
        if (row_a, row_b) != (a, b):
            continue
        compared = _compare(record["a_ahead"], record["b_ahead"], True, pair)
        leads[compared[3]] = leads.get(compared[3], 0) + 1
        a_total += record["a_ahead"]
        b_total += record["b_ahead"]
        if seasonal:
            out.append(("season", season, *pair, "head_to_head", *compared, None, None))
    met = any((k[0], k[1]) == (a, b) for k in h2h)
    total = _compare(a_total, b_total, True, pair) if met else (None, None, None, None)
    counts = (leads[a_ref], leads[b_ref]) if seasonal else (None, None)
    out.append(("overall", None, *pair, "head_to_head", *total, *counts))
    return out
