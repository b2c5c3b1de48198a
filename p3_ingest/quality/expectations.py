"""GX Core 1.x: build an expectation suite from rules and validate a pandas DataFrame against it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from .report import SAMPLE_SIZE, ExpectationResult, plain
from .rules import Engine, Rule

# Only the expectations the rules use; an unknown name fails loudly when the suite is built.
EXPECTATIONS: dict[str, type[gxe.Expectation]] = {
    "expect_table_columns_to_match_ordered_list": gxe.ExpectTableColumnsToMatchOrderedList,
    "expect_column_values_to_not_be_null": gxe.ExpectColumnValuesToNotBeNull,
    "expect_column_values_to_be_unique": gxe.ExpectColumnValuesToBeUnique,
    "expect_compound_columns_to_be_unique": gxe.ExpectCompoundColumnsToBeUnique,
    "expect_column_values_to_be_between": gxe.ExpectColumnValuesToBeBetween,
    "expect_column_values_to_match_regex": gxe.ExpectColumnValuesToMatchRegex,
    "expect_column_values_to_be_in_set": gxe.ExpectColumnValuesToBeInSet,
    "expect_column_pair_values_to_be_equal": gxe.ExpectColumnPairValuesToBeEqual,
}

_RULE_INDEX = "p3_rule"

SampleColumns = Callable[[Rule], list[str]]


def build_suite(name: str, rules: Sequence[Rule]) -> gx.ExpectationSuite:
    """A GX suite with one expectation per GX rule; each carries its rule's index in ``meta``."""
    expectations = [
        EXPECTATIONS[rule.expectation](**rule.kwargs, meta={_RULE_INDEX: i})
        for i, rule in enumerate(rules)
        if rule.engine is Engine.GX
    ]
    return gx.ExpectationSuite(name=name, expectations=expectations)


def validate_frame(
    frame: pd.DataFrame, rules: Sequence[Rule], *, name: str, sample_columns: SampleColumns
) -> list[ExpectationResult]:
    """Validate ``frame`` against the GX rules among ``rules``; one result per GX rule, in order.

    An ephemeral context (no files, no analytics, no progress bars) and a pandas datasource: GX
    cannot read DuckDB through SQLAlchemy (DEPENDENCIES.md 5b), so the caller reads the table with
    ``con.sql(q).df()``. Samples of offending rows are taken from ``frame`` by the row labels GX
    reports, restricted to ``sample_columns(rule)``.
    """
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        ),
    )
    batch = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("rows_validated")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    validation = batch.validate(
        build_suite(name, rules),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
    )
    by_rule = {_rule_index(r): r for r in validation.results}
    return [
        _to_result(rule, by_rule[i], frame, sample_columns(rule))
        for i, rule in enumerate(rules)
        if rule.engine is Engine.GX
    ]


def _rule_index(result: ExpectationValidationResult) -> int:
    """Which rule a GX result answers (build_suite tags each expectation with its index)."""
    config = result.expectation_config
    if config is None or config.meta is None or _RULE_INDEX not in config.meta:
        raise RuntimeError(f"a GX result without the {_RULE_INDEX!r} tag: {result}")
    return int(config.meta[_RULE_INDEX])


def _to_result(
    rule: Rule, outcome: ExpectationValidationResult, frame: pd.DataFrame, columns: list[str]
) -> ExpectationResult:
    result: dict[str, Any] = dict(outcome.result or {})
    error = _exception_message(outcome.exception_info)
    labels = list(result.get("partial_unexpected_index_list") or [])[:SAMPLE_SIZE]
    present = [c for c in columns if c in frame.columns]
    rows = (
        tuple(
            {c: plain(v) for c, v in row.items()}
            for row in frame.loc[labels, present].to_dict("records")
        )
        if labels and present
        else ()
    )
    observed = None
    if "observed_value" in result:
        details = result.get("details")
        observed = f"observed {plain(result['observed_value'])}" + (
            f"; {plain(details)}" if details else ""
        )
    unexpected = int(result.get("unexpected_count") or 0)
    if not outcome.success and not unexpected and rule.expectation.startswith("expect_table_"):
        # Table-level expectations have no unexpected rows; count the mismatched columns.
        unexpected = len((result.get("details") or {}).get("mismatched") or []) or 1
    return ExpectationResult(
        rule=rule,
        success=bool(outcome.success),
        unexpected_count=unexpected,
        element_count=result.get("element_count"),
        unexpected_values=tuple(
            plain(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
        ),
        sample_rows=rows,
        observed=observed,
        error=error,
    )


def _exception_message(info: Any) -> str | None:
    # GX reports either one {"raised_exception", "exception_message"} dict or one per failed metric.
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    messages = [_exception_message(v) for v in info.values()]
    return "; ".join(m for m in messages if m) or None
