"""``p3 materialize`` progress: every check step prints a result line; failures name rule and count."""

from __future__ import annotations

import time

import dagster as dg

from p3_dagster.materialize.console import console
from p3_dagster.materialize.progress import Progress


@dg.asset(key=["raw", "ergast__results"])
def results() -> None:
    """Stand-in raw table."""


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("results_are_valid", asset=results),
        dg.AssetCheckSpec("results_have_rows", asset=results),
    ],
    name="ergast__results_checks",
)
def results_checks():
    """One step, several checks, like the raw tables' checks; one fails with rules and a count."""
    yield dg.AssetCheckResult(
        check_name="results_are_valid",
        passed=False,
        metadata={"failed": "grid_is_in_range; positions_are_contiguous", "unexpected_rows": 2},
    )
    yield dg.AssetCheckResult(
        check_name="results_have_rows", passed=True, metadata={"failed": "none"}
    )


def test_check_steps_print_a_result_line_and_each_failure_with_rules_and_count() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        run = dg.materialize([results, results_checks], instance=instance).run_id
        progress = Progress(time.monotonic(), set())
        with console.capture() as captured:
            for record in instance.all_logs(run):
                progress.event(record)

    lines = [line.strip() for line in captured.get().splitlines()]
    summaries = [line for line in lines if "ergast__results_checks:" in line]
    assert len(summaries) == 1, lines
    assert "1 of 2 checks failed" in summaries[0]
    failure = next(line for line in lines if "results_are_valid" in line)
    assert "grid_is_in_range; positions_are_contiguous" in failure
    assert "2 offending rows" in failure
