"""Validation results as plain objects (per expectation, per table) and their markdown rendering."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from .rules import CheckGroup, Engine, Rule

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one rule: success, how many rows broke it, and a sample of them.

    ``sample_rows`` are offending rows (key columns, the columns at fault and the season);
    ``unexpected_values`` are offending values; ``observed`` describes a table-level finding
    (e.g. the columns found); ``error`` says why the rule could not be evaluated at all.
    """

    rule: Rule
    success: bool
    unexpected_count: int = 0
    element_count: int | None = None
    unexpected_values: tuple[Any, ...] = ()
    sample_rows: tuple[Mapping[str, Any], ...] = ()
    observed: str | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        """What must hold, in words."""
        return self.rule.name

    @property
    def group(self) -> CheckGroup:
        """The check this result belongs to."""
        return self.rule.group


@dataclass(frozen=True)
class ValidationReport:
    """Every rule's result for one raw table, over the seasons just loaded (or the whole table)."""

    table: str
    seasons: tuple[int, ...] | None
    rows_validated: int
    results: tuple[ExpectationResult, ...]
    elapsed_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every rule held."""
        return all(r.success for r in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        """The rules that did not hold."""
        return tuple(r for r in self.results if not r.success)

    def group(self, group: CheckGroup) -> tuple[ExpectationResult, ...]:
        """The results of one check group, in rule order."""
        return tuple(r for r in self.results if r.group is group)

    def group_passed(self, group: CheckGroup) -> bool:
        """True when every rule of ``group`` held (vacuously true for an empty group)."""
        return all(r.success for r in self.group(group))

    def counts(self, group: CheckGroup | None = None) -> dict[str, int]:
        """Expectations evaluated and failed, and offending rows, for one group or the whole table."""
        results = self.results if group is None else self.group(group)
        failed = [r for r in results if not r.success]
        return {
            "expectations": len(results),
            "failed_expectations": len(failed),
            "unexpected_rows": sum(r.unexpected_count for r in failed),
            "rows_validated": self.rows_validated,
        }


def plain(value: Any) -> Any:
    """A JSON- and markdown-friendly Python value: numpy scalars unboxed, NA/NaN as None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in {"NAType", "NaTType"}:
        return None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def results_markdown(results: Iterable[ExpectationResult]) -> str:
    """One line per expectation: pass/fail, what must hold, offending rows and sample values."""
    lines = [
        "| | expectation | engine | unexpected | sample values |",
        "|---|---|---|---:|---|",
    ]
    for r in results:
        values = ", ".join(_cell(v) for v in r.unexpected_values[:SAMPLE_SIZE])
        if r.error:
            values = f"error: {_cell(r.error)}"
        elif r.observed and not r.success:
            values = _cell(r.observed)
        engine = "GX" if r.rule.engine is Engine.GX else "DuckDB"
        mark = "✅" if r.success else "❌"
        lines.append(f"| {mark} | {_cell(r.name)} | {engine} | {r.unexpected_count:,} | {values} |")
    return "\n".join(lines)


def failures_markdown(results: Iterable[ExpectationResult]) -> str:
    """A section per failed expectation with a table of sample offending rows."""
    sections = []
    for r in results:
        if r.success:
            continue
        head = f"**{r.name}** (`{r.rule.expectation}`): {r.unexpected_count:,} unexpected"
        body = (
            rows_markdown(r.sample_rows)
            if r.sample_rows
            else (r.error or r.observed or "no sample available")
        )
        sections.append(f"{head}\n\n{body}")
    return "\n\n".join(sections) or "_every expectation held_"


def rows_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of rows (dicts with the same keys)."""
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "∅" if value is None else str(plain(value))
    return text.replace("|", "\\|").replace("\n", " ")
