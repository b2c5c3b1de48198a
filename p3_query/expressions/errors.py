"""The one error of the expression language: what is wrong and where (line, column, caret)."""

from __future__ import annotations


class ExpressionError(ValueError):
    """A custom metric expression that cannot be parsed, type-checked or compiled.

    ``str()`` is the message, the position and the offending line with a caret under the span;
    ``one_line()`` is the message and position alone, for logs and load errors.
    """

    def __init__(self, message: str, source: str, start: int, end: int | None = None) -> None:
        self.message = message
        self.source = source
        self.start = max(0, min(start, len(source)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        before = source[: self.start]
        self.line = before.count("\n") + 1
        self.column = self.start - (before.rfind("\n") + 1) + 1
        super().__init__(self._render())

    def one_line(self) -> str:
        """``line L, column C: message`` on one line."""
        return f"line {self.line}, column {self.column}: {self.message}"

    def _render(self) -> str:
        lines = self.source.split("\n")
        text = lines[self.line - 1] if lines else ""
        width = max(1, min(self.end - self.start, len(text) - self.column + 1))
        caret = " " * (self.column - 1) + "^" * width
        return f"{self.one_line()}\n    {text}\n    {caret}"
