"""The one error every source raises for bad input, naming the source, table, place and column."""

from __future__ import annotations


class SourceError(Exception):
    """Bad or unreachable source data.

    The message names the source (dump | jolpica | demo), the table, where in the input the
    problem is (file and line, or URL) and the column, so a failed run says what to fix.
    """

    def __init__(
        self,
        source: str,
        table: str,
        problem: str,
        *,
        where: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.table = table
        self.problem = problem
        self.where = where
        self.row = row
        self.column = column
        parts = [f"[{source}] table {table!r}"]
        if where:
            parts.append(where)
        if row is not None:
            parts.append(f"row {row}")
        if column:
            parts.append(f"column {column!r}")
        super().__init__(f"{', '.join(parts)}: {problem}")
