"""The syntax tree of an expression; every node keeps its span in the source for error carets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """A node and its [start, end) offsets in the source text."""

    start: int
    end: int

    def children(self) -> tuple[Node, ...]:
        """The node's direct sub-expressions."""
        return ()

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True)
class Number(Node):
    """A numeric literal (bound as a parameter when compiled)."""

    value: int | float


@dataclass(frozen=True)
class Boolean(Node):
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True)
class MetricRef(Node):
    """A registry metric by name: its value for the row's group."""

    name: str


@dataclass(frozen=True)
class Unary(Node):
    """``-x`` or ``not x``."""

    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    """Arithmetic, comparison or boolean operator between two operands."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Node):
    """A function call: ``if``, ``coalesce``, ``abs``, ``round``, ``least``, ``greatest`` or an
    aggregate over the group (``sum``, ``mean``, ``min``, ``max``, ``median``, ``count``)."""

    function: str
    args: tuple[Node, ...]
    name_end: int  # end of the function name, for carets under it

    def children(self) -> tuple[Node, ...]:
        return self.args
