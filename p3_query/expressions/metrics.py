"""Custom metrics: a name and an expression over the registry metrics of the query's entity."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..registry import METRICS, Entity, metrics_for
from .checker import Checked, check
from .parser import parse

MAX_CUSTOM_METRICS = 10
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Result columns a custom metric may not shadow.
RESERVED = frozenset(
    {
        "season",
        "entity",
        "circuit",
        "entity_id",
        "entity_ref",
        "entity_name",
        "circuit_id",
        "circuit_ref",
        "circuit_name",
    }
)


class CustomMetric(BaseModel):
    """A metric defined by an expression, e.g. ``points_per_start: points / starts``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Column name of the result: lowercase letters, digits, '_'.")
    expression: str = Field(description="Expression over registry metrics (see README).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"custom metric name {value[:60]!r} must be lowercase letters, digits and '_' "
                "(starting with a letter, at most 40 characters)"
            )
        if value in METRICS or value in RESERVED:
            raise ValueError(
                f"custom metric name {value!r} is already a registry metric or result column"
            )
        return value


def normalise_custom_metrics(value: Any) -> tuple[dict[str, str], ...]:
    """``{name: expression}`` or ``[{name, expression}]`` as a list of dicts (order kept)."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [{"name": k, "expression": v} for k, v in value.items()]
    items = list(value)
    if len(items) > MAX_CUSTOM_METRICS:
        raise ValueError(
            f"{len(items)} custom metrics given; at most {MAX_CUSTOM_METRICS} are allowed"
        )
    names = [i.name if isinstance(i, CustomMetric) else dict(i).get("name") for i in items]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n is not None})
    if duplicates:
        raise ValueError(f"custom metric {duplicates[0]!r} is defined twice")
    return tuple(items)


def available_metrics(entity: Entity) -> tuple[str, ...]:
    """Registry metrics an expression about ``entity`` may read (pairwise ones excluded)."""
    return tuple(m for m in metrics_for(entity) if not METRICS[m].pairwise)


def check_metric(expression: str, entity: Entity) -> Checked:
    """Parse and type-check ``expression`` for ``entity``; ExpressionError with the position."""
    available = available_metrics(entity)
    known = tuple(m for m in METRICS if m not in available)
    return check(expression, parse(expression), available, known)
