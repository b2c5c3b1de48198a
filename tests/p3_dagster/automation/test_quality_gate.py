"""The quality gate on the automated path: what the automation-condition sensor requests after a
raw load whose blocking checks failed (nothing downstream), and after the next good load (all of it)."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_dagster.definitions import build_definitions
from tests.dbt.conftest import build_graph_in, explicit_settings
from tests.fixtures.dumps import write_demo_dump

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

RESULTS = dg.AssetKey(["raw", "ergast__results"])
STAGING_RESULTS = dg.AssetKey(["staging", "stg_ergast__results"])
FCT_RESULTS = dg.AssetKey(["marts", "fct_race_results"])
SNAPSHOT = dg.AssetKey(["serving", "warehouse_snapshot"])
# What the automation sensor targets, less the ML models (they need more seasons than the dump has).
AUTOMATED = dg.AssetSelection.all() - dg.AssetSelection.groups("ml")


def set_first_grid(dump: Path, value: str) -> str:
    """Write ``value`` into the first result's grid; returns the value it replaced."""
    path = dump / "results.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        header, *body = list(csv.reader(handle))
    column = header.index("grid")
    previous, body[0][column] = body[0][column], value
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *body])
    return previous


def succeeded(result: dg.ExecuteInProcessResult) -> bool:
    """True when the run succeeded; otherwise fails the test with the steps' errors."""
    errors = [
        f"{e.step_key}: {e.step_failure_data.error.message.strip()}"
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    assert result.success, "; ".join(errors) or "the run failed"
    return True


def test_failed_raw_checks_stop_automation_and_the_next_good_load_resumes_it(
    tmp_path: Path,
) -> None:
    dump = write_demo_dump(tmp_path / "dump")
    settings = explicit_settings(tmp_path / "home", source="dump", ergast_dir=dump)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    assert succeeded(build_graph_in(settings, instance, AUTOMATED))

    def tick(cursor: object = None) -> dg.EvaluateAutomationConditionsResult:
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=AUTOMATED, cursor=cursor
        )

    settled = tick()
    assert tick(settled.cursor).total_requested == 0, "a fully built graph requests nothing"

    # 1. A bad source: the load is rejected before it commits, so nothing new exists downstream.
    good_grid = set_first_grid(dump, "99")
    rejected = build_graph_in(settings, instance, dg.AssetSelection.assets(RESULTS))
    assert not rejected.success
    after_rejection = tick(settled.cursor)
    assert after_rejection.total_requested == 0

    # 2. A load that committed, then failed its blocking checks (the rows went bad afterwards):
    #    the raw asset is newer than dbt, yet nothing downstream may be requested.
    set_first_grid(dump, good_grid)
    assert succeeded(build_graph_in(settings, instance, dg.AssetSelection.assets(RESULTS)))
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "UPDATE raw.ergast__results SET grid = 99 "
            "WHERE result_id = (SELECT min(result_id) FROM raw.ergast__results)"
        )
    checks = build_graph_in(settings, instance, dg.AssetSelection.checks_for_assets(RESULTS))
    failed = {e.check_name for e in checks.get_asset_check_evaluations() if not e.passed}
    assert "results_values_are_in_range" in failed
    blocked = tick(after_rejection.cursor)
    assert blocked.total_requested == 0, "dbt must wait for the raw tables' blocking checks"

    # 3. The next good load passes its checks: dbt, the marts and the snapshot all follow.
    assert succeeded(build_graph_in(settings, instance, dg.AssetSelection.assets(RESULTS)))
    resumed = tick(blocked.cursor)
    for key in (STAGING_RESULTS, FCT_RESULTS, SNAPSHOT):
        assert resumed.get_num_requested(key) == 1, key.to_user_string()
    assert resumed.get_num_requested(RESULTS) == 0, "raw loads start from schedules and sensors"
