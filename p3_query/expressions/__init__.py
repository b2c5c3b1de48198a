"""Custom metrics: a small, safe expression language over the registry metrics.

An expression is tokenised, parsed into a syntax tree, type-checked against the registry metrics
of the query's entity and compiled to a SQL expression whose literals are bound parameters —
never ``eval``, never pasted text. Grammar (lowest precedence first)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | primary
    primary  := number | "true" | "false" | metric | function "(" expr ("," expr)* ")" | "(" expr ")"

Functions: ``if(cond, then, else)``, ``coalesce(a, b, ...)``, ``abs``, ``round(x[, digits])``,
``least``, ``greatest``; aggregates over the group (the result rows that share the other group
keys, e.g. every entity of the same season): ``sum``, ``mean``, ``min``, ``max``, ``median``,
``count``. ``/`` is true division and gives null when the divisor is zero.
"""

from __future__ import annotations

from .checker import ALLOWED_FUNCTIONS, Checked, check
from .compiler import compile_sql
from .errors import ExpressionError
from .metrics import (
    MAX_CUSTOM_METRICS,
    CustomMetric,
    available_metrics,
    check_metric,
    normalise_custom_metrics,
)
from .parser import MAX_DEPTH, parse

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_CUSTOM_METRICS",
    "MAX_DEPTH",
    "Checked",
    "CustomMetric",
    "ExpressionError",
    "available_metrics",
    "check",
    "check_metric",
    "compile_sql",
    "normalise_custom_metrics",
    "parse",
]
