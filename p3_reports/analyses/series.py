"""Derived series over an analysis table (pandas): rolling means, running totals, ranks, shares
and differences to a baseline entity, each per entity along the x column."""

from __future__ import annotations

import pandas as pd

from .config import Filter, Series

ENTITY = "entity_id"


def apply_filters(table: pd.DataFrame, filters: list[Filter]) -> pd.DataFrame:
    """Rows whose filter columns lie within [min, max] (nulls dropped by a bounded filter)."""
    keep = pd.Series(True, index=table.index)
    for f in filters:
        values = pd.to_numeric(table[f.column], errors="coerce")
        if f.min is not None:
            keep &= values >= f.min
        if f.max is not None:
            keep &= values <= f.max
    return table[keep].reset_index(drop=True)


def add_series(table: pd.DataFrame, series: list[Series], x: str = "season") -> pd.DataFrame:
    """``table`` with one new column per series, computed in order (a series may use an earlier
    one). Rows are sorted by entity and x first, so windows run along x."""
    table = table.copy()
    order = [c for c in ("query", ENTITY, x) if c in table.columns]
    if order:
        table = table.sort_values(order, kind="stable").reset_index(drop=True)
    entity_keys = [c for c in ("query", ENTITY) if c in table.columns]
    x_keys = [c for c in ("query", x) if c in table.columns]
    for s in series:
        values = pd.to_numeric(table[s.column], errors="coerce").astype("float64")
        per_entity = values.groupby([table[k] for k in entity_keys]) if entity_keys else None
        per_x = values.groupby([table[k] for k in x_keys]) if x_keys else None
        if s.kind == "rolling":
            assert s.window is not None  # the config requires it
            if per_entity is not None:
                table[s.name] = per_entity.transform(
                    lambda v, w=s.window: v.rolling(w, min_periods=1).mean()
                )
            else:
                table[s.name] = values.rolling(s.window, min_periods=1).mean()
        elif s.kind == "cumulative":
            table[s.name] = per_entity.cumsum() if per_entity is not None else values.cumsum()
        elif s.kind == "rank":
            ranked = per_x.rank if per_x is not None else values.rank
            table[s.name] = ranked(method="min", ascending=s.ascending)
        elif s.kind == "share":
            total = (
                per_x.transform("sum")
                if per_x is not None
                else pd.Series(values.sum(), index=values.index)
            )
            table[s.name] = values / total.where(total != 0)
        else:  # difference: each row minus the baseline entity's value at the same x
            table[s.name] = _difference(table, values, s.baseline or "", x_keys)
    return table


def _difference(
    table: pd.DataFrame, values: pd.Series, baseline: str, x_keys: list[str]
) -> pd.Series:
    if "entity_ref" not in table.columns:
        return pd.Series(float("nan"), index=table.index)
    is_base = table["entity_ref"] == baseline
    if not x_keys:
        base_value = values[is_base].iloc[0] if is_base.any() else float("nan")
        return values - base_value
    base = table.loc[is_base, x_keys].assign(_base=values[is_base]).drop_duplicates(subset=x_keys)
    joined = table[x_keys].merge(base, on=x_keys, how="left")
    return values - joined["_base"].to_numpy()
