"""Recursive-descent parser: tokens to a syntax tree, with a nesting limit."""

from __future__ import annotations

import math

from .errors import ExpressionError
from .lexer import Token, tokenize
from .nodes import Binary, Boolean, Call, MetricRef, Node, Number, Unary

MAX_DEPTH = 24  # nesting levels (parentheses, calls, operators); real metrics use a handful

_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
# Literals travel as BIGINT or DOUBLE parameters: keep them well inside both (no inf, no overflow).
MAX_LITERAL = 1e15


def _representable(text: str) -> bool:
    value = float(text)
    return math.isfinite(value) and abs(value) <= MAX_LITERAL


def parse(source: str) -> Node:
    """The syntax tree of ``source``; ExpressionError pointing at the offending token."""
    if not source.strip():
        raise ExpressionError("the expression is empty; e.g. 'points / races'", source, 0)
    return _Parser(source).parse()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    # --- helpers -----------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("op", "keyword") and self.token.text in texts

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        token = token or self.token
        return ExpressionError(message, self.source, token.start, token.end)

    def expect(self, text: str, context: str) -> Token:
        if not self.at(text):
            found = "the end" if self.token.kind == "end" else repr(self.token.text)
            raise self.error(f"expected {text!r} {context}, found {found}")
        return self.advance()

    def nested(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the expression is nested deeper than {MAX_DEPTH} levels", token)

    # --- grammar (lowest precedence first) ---------------------------------------------------

    def parse(self) -> Node:
        node = self.expression()
        if self.token.kind != "end":
            raise self.error(
                f"unexpected {self.token.text!r} after a complete expression "
                "(missing operator or comma?)"
            )
        return node

    def expression(self) -> Node:
        self.nested(self.token)
        try:
            return self.or_expression()
        finally:
            self.depth -= 1

    def or_expression(self) -> Node:
        node = self.and_expression()
        while self.at("or"):
            self.advance()
            right = self.and_expression()
            node = Binary(node.start, right.end, "or", node, right)
        return node

    def and_expression(self) -> Node:
        node = self.not_expression()
        while self.at("and"):
            self.advance()
            right = self.not_expression()
            node = Binary(node.start, right.end, "and", node, right)
        return node

    def not_expression(self) -> Node:
        if self.at("not"):
            token = self.advance()
            self.nested(token)
            try:
                operand = self.not_expression()
            finally:
                self.depth -= 1
            return Unary(token.start, operand.end, "not", operand)
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        if self.at(*_COMPARISONS):
            op = self.advance().text
            right = self.additive()
            node = Binary(node.start, right.end, op, node, right)
            if self.at(*_COMPARISONS):
                raise self.error("comparisons do not chain; write 'a < b and b < c'", self.token)
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.advance().text
            right = self.term()
            node = Binary(node.start, right.end, op, node, right)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.advance().text
            right = self.unary()
            node = Binary(node.start, right.end, op, node, right)
        return node

    def unary(self) -> Node:
        if self.at("-", "+"):
            token = self.advance()
            self.nested(token)
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            if token.text == "+":
                return operand
            return Unary(token.start, operand.end, "-", operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            if not _representable(token.text):
                raise self.error(
                    f"number {token.text[:30]} is out of range; literals are at most "
                    f"{MAX_LITERAL:.0e} in size",
                    token,
                )
            value: int | float = (
                float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
            )
            return Number(token.start, token.end, value)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.advance()
            return Boolean(token.start, token.end, token.text == "true")
        if token.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(token)
            return MetricRef(token.start, token.end, token.text)
        if self.at("("):
            self.advance()
            node = self.expression()
            close = self.expect(")", "to close the parenthesis")
            return _respan(node, token.start, close.end)
        if token.kind == "end":
            raise self.error("the expression ends too early: a value is missing")
        raise self.error(f"expected a metric, a number or '(' but found {token.text!r}")

    def call(self, name: Token) -> Node:
        self.advance()  # "("
        args: list[Node] = []
        if not self.at(")"):
            while True:
                args.append(self.expression())
                if not self.at(","):
                    break
                self.advance()
        close = self.expect(")", f"to close the call of {name.text}()")
        return Call(name.start, close.end, name.text, tuple(args), name.end)


def _respan(node: Node, start: int, end: int) -> Node:
    """The node with its span widened to its parentheses (carets then cover them)."""
    values = {**node.__dict__, "start": start, "end": end}
    return type(node)(**values)
