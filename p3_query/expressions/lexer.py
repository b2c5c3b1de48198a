"""Tokens of the expression language: numbers, names, operators and parentheses, with offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ExpressionError

MAX_LENGTH = 1_000  # characters; a real metric is a line or two

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|[-+*/(),<>])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One token: its kind (number, name, keyword, op, end), text and offsets in the source."""

    kind: str
    text: str
    start: int
    end: int


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an ``end`` token; ExpressionError on a stray character."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(source)} characters; at most {MAX_LENGTH} are allowed",
            source,
            MAX_LENGTH,
            len(source),
        )
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            char = source[position]
            hint = " ('=' compares as '==')" if char == "=" else ""
            raise ExpressionError(
                f"unexpected character {char!r}{hint}; expressions use metric names, numbers, "
                "+ - * / ( ) , comparisons (< <= > >= == !=), and/or/not and functions",
                source,
                position,
            )
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "name" and text.lower() in KEYWORDS:
                kind, text = "keyword", text.lower()
            tokens.append(Token(kind, text, match.start(), match.end()))
        position = match.end()
    tokens.append(Token("end", "", len(source), len(source)))
    return tokens
