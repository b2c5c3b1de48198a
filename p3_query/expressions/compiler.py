"""Compile a checked expression to a SQL expression; every literal becomes a bound parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .checker import AGGREGATES, Checked
from .nodes import Binary, Boolean, Call, MetricRef, Node, Number, Unary

_SQL_OPS = {
    "+": "+",
    "-": "-",
    "*": "*",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "==": "=",
    "!=": "<>",
    "and": "and",
    "or": "or",
}


def compile_sql(
    checked: Checked,
    column: Callable[[str], str],
    params: dict[str, Any],
    *,
    prefix: str,
    partition_by: Sequence[str] = (),
) -> str:
    """SQL for ``checked``: metric names become ``column(name)``, literals ``$<prefix><n>``
    parameters added to ``params``, aggregates window functions over ``partition_by``.

    Division is true division with a null result on a zero divisor (``nullif``).
    """
    window = f"over (partition by {', '.join(partition_by)})" if partition_by else "over ()"

    def bind(value: Any, sql_type: str) -> str:
        name = f"{prefix}{len([k for k in params if k.startswith(prefix)])}"
        params[name] = value
        return f"cast(${name} as {sql_type})"

    def emit(node: Node) -> str:
        if isinstance(node, Number):
            # DOUBLE even for whole numbers: arithmetic with a literal cannot overflow BIGINT.
            return bind(node.value, "DOUBLE")
        if isinstance(node, Boolean):
            return bind(node.value, "BOOLEAN")
        if isinstance(node, MetricRef):
            return column(node.name)
        if isinstance(node, Unary):
            return (
                f"(not {emit(node.operand)})" if node.op == "not" else f"(- {emit(node.operand)})"
            )
        if isinstance(node, Binary):
            left, right = emit(node.left), emit(node.right)
            if node.op == "/":
                return f"(cast({left} as DOUBLE) / nullif({right}, 0))"
            return f"({left} {_SQL_OPS[node.op]} {right})"
        if isinstance(node, Call):
            return call(node)
        raise TypeError(f"unknown node {node!r}")

    def call(node: Call) -> str:
        if node.function in AGGREGATES:
            return f"{AGGREGATES[node.function]}({emit(node.args[0])}) {window}"
        if node.function == "if":
            condition, then, otherwise = (emit(a) for a in node.args)
            return f"(case when {condition} then {then} else {otherwise} end)"
        if node.function == "round" and len(node.args) == 2:
            digits = node.args[1]
            assert isinstance(digits, Number)  # the checker allows only an integer literal
            return f"round(cast({emit(node.args[0])} as DOUBLE), {bind(digits.value, 'INTEGER')})"
        # coalesce, abs, round, least, greatest: the same name in DuckDB.
        return f"{node.function}({', '.join(emit(a) for a in node.args)})"

    return emit(checked.tree)
