"""Type checking: names are registry metrics of the entity, operands have the right types, and
aggregates, literal division by zero and booleans are used where they make sense."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .errors import ExpressionError
from .nodes import Binary, Boolean, Call, MetricRef, Node, Number, Unary

Type = Literal["number", "boolean"]

# Aggregates over the group (the rows that share the result's other keys, e.g. the season),
# and the SQL window function each becomes.
AGGREGATES: dict[str, str] = {
    "sum": "sum",
    "mean": "avg",
    "min": "min",
    "max": "max",
    "median": "median",
    "count": "count",
}
# Scalar functions: (minimum, maximum) number of arguments; None = any number.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    "coalesce": (2, None),
    "abs": (1, 1),
    "round": (1, 2),
    "least": (2, None),
    "greatest": (2, None),
}
ALLOWED_FUNCTIONS = (*FUNCTIONS, *AGGREGATES)


@dataclass(frozen=True)
class Checked:
    """A type-checked expression: its tree and the registry metrics it reads."""

    source: str
    tree: Node
    metrics: tuple[str, ...]


def check(
    source: str,
    tree: Node,
    available: Collection[str],
    known: Collection[str] = (),
    what: str = "metric",
) -> Checked:
    """Check ``tree`` (parsed from ``source``): the expression must be a number built from
    ``available`` names. ``known`` names exist but are not available here (a different message)."""
    checker = _Checker(source, available, known, what)
    result = checker.type_of(tree, in_aggregate=False)
    if result != "number":
        raise ExpressionError(
            "a metric must be a number, not a condition; write if(<condition>, 1, 0)",
            source,
            tree.start,
            tree.end,
        )
    names = tuple(dict.fromkeys(n.name for n in tree.walk() if isinstance(n, MetricRef)))
    if not names:
        raise ExpressionError(
            f"the expression reads no {what}; a custom metric is computed from at least one, "
            "e.g. 'points / races'",
            source,
            tree.start,
            tree.end,
        )
    return Checked(source, tree, names)


class _Checker:
    def __init__(
        self, source: str, available: Collection[str], known: Collection[str], what: str
    ) -> None:
        self.source = source
        self.available = available
        self.known = known
        self.what = what

    def error(self, message: str, node: Node, end: int | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, node.start, end or node.end)

    def expect(self, node: Node, wanted: Type, context: str, in_aggregate: bool) -> None:
        found = self.type_of(node, in_aggregate)
        if found != wanted:
            raise self.error(f"{context} must be a {wanted}, found a {found}", node)

    def type_of(self, node: Node, in_aggregate: bool) -> Type:
        if isinstance(node, Number):
            return "number"
        if isinstance(node, Boolean):
            return "boolean"
        if isinstance(node, MetricRef):
            self.check_name(node)
            return "number"
        if isinstance(node, Unary):
            if node.op == "not":
                self.expect(node.operand, "boolean", "the operand of 'not'", in_aggregate)
                return "boolean"
            self.expect(node.operand, "number", "the operand of '-'", in_aggregate)
            return "number"
        if isinstance(node, Binary):
            return self.binary(node, in_aggregate)
        if isinstance(node, Call):
            return self.call(node, in_aggregate)
        raise TypeError(f"unknown node {node!r}")  # the parser builds only the nodes above

    def check_name(self, node: MetricRef) -> None:
        if node.name in self.available:
            return
        if node.name in self.known:
            raise self.error(
                f"{self.what} {node.name!r} is not available here; available: "
                f"{', '.join(sorted(self.available))}",
                node,
            )
        close = difflib.get_close_matches(node.name, list(self.available), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise self.error(
            f"unknown {self.what} {node.name!r}; {hint}{self.what}s here: "
            f"{', '.join(sorted(self.available))}",
            node,
        )

    def binary(self, node: Binary, in_aggregate: bool) -> Type:
        if node.op in ("and", "or"):
            self.expect(node.left, "boolean", f"the left side of '{node.op}'", in_aggregate)
            self.expect(node.right, "boolean", f"the right side of '{node.op}'", in_aggregate)
            return "boolean"
        self.expect(node.left, "number", f"the left side of '{node.op}'", in_aggregate)
        self.expect(node.right, "number", f"the right side of '{node.op}'", in_aggregate)
        if node.op == "/" and _is_zero(node.right):
            raise self.error(
                "division by a literal zero; '/' is true division and a zero divisor gives "
                "null, so dividing by the constant 0 is always null",
                node.right,
            )
        return "boolean" if node.op in ("<", "<=", ">", ">=", "==", "!=") else "number"

    def call(self, node: Call, in_aggregate: bool) -> Type:
        name = node.function
        if name in AGGREGATES:
            if in_aggregate:
                raise self.error(
                    f"aggregate {name}() inside another aggregate; aggregates do not nest",
                    node,
                    node.name_end,
                )
            self.arity(node, 1, 1)
            self.expect(node.args[0], "number", f"the argument of {name}()", True)
            return "number"
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, ALLOWED_FUNCTIONS, n=1)
            hint = f"did you mean {close[0]}()? " if close else ""
            raise self.error(
                f"unknown function {name}(); {hint}functions are: "
                f"{', '.join(f'{f}()' for f in ALLOWED_FUNCTIONS)}",
                node,
                node.name_end,
            )
        low, high = FUNCTIONS[name]
        self.arity(node, low, high)
        if name == "if":
            self.expect(node.args[0], "boolean", "the condition of if()", in_aggregate)
            self.expect(node.args[1], "number", "the 'then' value of if()", in_aggregate)
            self.expect(node.args[2], "number", "the 'else' value of if()", in_aggregate)
            return "number"
        if name == "round" and len(node.args) == 2:
            digits = node.args[1]
            if not (isinstance(digits, Number) and isinstance(digits.value, int)):
                raise self.error("the digits of round() must be a whole number literal", digits)
            if digits.value > 15:
                raise self.error("round() keeps at most 15 digits", digits)
        for index, arg in enumerate(node.args, start=1):
            self.expect(arg, "number", f"argument {index} of {name}()", in_aggregate)
        return "number"

    def arity(self, node: Call, low: int, high: int | None) -> None:
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = (
                f"{low}" if low == high else f"{low} or more" if high is None else f"{low}-{high}"
            )
            raise self.error(
                f"{node.function}() takes {wanted} argument{'s' if wanted != '1' else ''}, "
                f"{count} given",
                node,
            )


def _is_zero(node: Node) -> bool:
    if isinstance(node, Unary) and node.op == "-":
        return _is_zero(node.operand)
    return isinstance(node, Number) and node.value == 0
