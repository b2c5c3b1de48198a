"""The weekly performance report over a real instance's runs and the real query cache."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import load_settings
from p3_dagster.monitoring.report import REPORT_KEY, build_report_asset


@dg.asset
def steady() -> None:
    """Succeeds."""


@dg.asset
def flaky() -> None:
    """Fails."""
    raise RuntimeError("transient")


def test_the_report_summarises_the_weeks_runs_with_a_plot() -> None:
    settings = load_settings()
    report = build_report_asset(settings)
    with dg.instance_for_test() as instance:
        for _ in range(3):
            assert dg.materialize([steady], instance=instance).success
        assert not dg.materialize([flaky], instance=instance, raise_on_error=False).success
        result = dg.materialize([report], instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("monitoring__performance_report")
    assert materialization.asset_key == REPORT_KEY
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["runs"] == 4  # the report's own run is not in it
    assert metadata["run_failure_rate"] == 0.25
    table = metadata["runs_by_job"]
    row = next(line for line in table.splitlines() if "__ephemeral_asset_job__" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][1:3] == ["4", "0.25"]
    assert "steady" in metadata["slowest_steps"]
    assert metadata["run_durations_plot"].startswith("![run durations](data:image/png;base64,")
    assert metadata["cache_hit_rate"] == 0.0  # nothing was queried through this cache


def test_the_report_is_weekly_and_sits_in_the_monitoring_group() -> None:
    report = build_report_asset(load_settings())
    spec = next(iter(report.specs))
    assert spec.group_name == "monitoring"
    assert "0 7 * * 1" in str(spec.automation_condition)
