"""The quality gate through the real automation sensor: a ``dagster-daemon`` process evaluates the code
location's ``automation_condition_sensor`` every 5 s while raw loads land in the same instance.

Loads that have not passed their blocking checks launch nothing downstream; the next load whose
checks pass makes the daemon launch dbt, the marts and the snapshot, and that run succeeds.
(``test_quality_gate`` checks the same conditions tick by tick, in process and in seconds.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.settings import REPO_ROOT, Settings
from p3_dagster.materialize import INSTANCE_TEMPLATE
from p3_ingest.sources.demo import DemoSource
from tests.dbt.conftest import build_graph_in, explicit_settings
from tests.fixtures.dumps import write_demo_dump

from .test_quality_gate import FCT_RESULTS, RESULTS, SNAPSHOT, STAGING_RESULTS, succeeded

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

SENSOR = "automation_condition_sensor"
INTERVAL_SECONDS = 5
DAEMON_START_TIMEOUT = 300  # the daemon loads the code location; minutes on a busy 2-core machine
RUN_TIMEOUT = 600  # a launched run loads the code location again, then dbt builds every model
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class Daemon:
    """A running ``dagster-daemon`` and the instance it shares with the test."""

    def __init__(self, instance: dg.DagsterInstance, log: Path) -> None:
        self.instance = instance
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def ticks_after(self, since: float) -> list:
        """The sensor's finished ticks that started after ``since`` (oldest first)."""
        states = [s for s in self.instance.all_instigator_state() if s.instigator_name == SENSOR]
        if not states:
            return []
        ticks = self.instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id)
        return sorted(
            (t for t in ticks if t.timestamp > since and t.status.value != "STARTED"),
            key=lambda t: t.timestamp,
        )

    def wait_for_ticks(self, since: float, count: int, timeout: float) -> list:
        """Wait until the sensor has finished ``count`` ticks that started after ``since``."""
        deadline = time.monotonic() + timeout
        while len(ticks := self.ticks_after(since)) < count:
            assert time.monotonic() < deadline, f"no {SENSOR} tick:\n{self.output()}"
            time.sleep(1)
        return ticks

    def wait_for_runs(self, run_ids: set[str]) -> list[dg.DagsterRun]:
        """Wait until every run in ``run_ids`` has finished."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            runs = [self.instance.get_run_by_id(run_id) for run_id in run_ids]
            if all(run is not None and run.status in FINISHED for run in runs):
                return [run for run in runs if run is not None]
            assert time.monotonic() < deadline, f"runs still going:\n{self.output()}"
            time.sleep(2)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, dict[str, str]]:
    """Settings on a dump of the demo championship, and the daemon's environment for the same."""
    home = tmp_path / "home"
    dump = write_demo_dump(tmp_path / "dump", DemoSource())  # five seasons: the models can train
    settings = explicit_settings(
        home, source="dump", ergast_dir=dump, automation_interval_seconds=INTERVAL_SECONDS
    )
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(INSTANCE_TEMPLATE, dagster_home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P3_", "MLFLOW_"))}
    env |= {
        "DAGSTER_HOME": str(dagster_home),
        "P3_ENV": "test",
        "P3_HOME": str(home),
        "P3_SOURCE": "dump",
        "P3_ERGAST_DIR": str(dump),
        "P3_AUTOMATION_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
    }
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return settings, env


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Daemon]]:
    processes: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> Daemon:
        log = tmp_path / "daemon.log"
        processes.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "dagster-daemon"),
                    "run",
                    "-w",
                    "workspace.yaml",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        return Daemon(dg.DagsterInstance.get(), log)

    yield start
    for process in processes:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def corrupt_first_result(settings: Settings) -> None:
    """Rows that went bad after the load committed (what the pre-commit gate cannot see)."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "UPDATE raw.ergast__results SET grid = 99 "
            "WHERE result_id = (SELECT min(result_id) FROM raw.ergast__results)"
        )


def test_the_daemon_launches_nothing_downstream_of_unchecked_or_failed_loads_and_all_after_a_good_one(
    setup: tuple[Settings, dict[str, str]], start_daemon: Callable[[dict[str, str]], Daemon]
) -> None:
    settings, env = setup
    with dg.DagsterInstance.get() as instance:
        built = build_graph_in(settings, instance)
    assert succeeded(built)

    daemon = start_daemon(env)
    ours = {built.run_id}  # runs the test started itself; any other run came from the daemon

    def launched_by_daemon() -> set[str]:
        # Post-race reports follow publishes (race_published_sensor), and a snapshot is only
        # published once its checks passed: they are not what the gate holds back.
        runs = daemon.instance.get_runs()
        return {r.run_id for r in runs if r.job_name != "render_post_race_reports_job"} - ours

    daemon.wait_for_ticks(0, 2, DAEMON_START_TIMEOUT)
    assert launched_by_daemon() == set(), "a fully built graph launches nothing"

    # 1. A raw load that ran without its checks: newer than dbt, but unchecked.
    unchecked = build_graph_in(
        settings, daemon.instance, dg.AssetSelection.assets(RESULTS).without_checks()
    )
    ours.add(unchecked.run_id)
    assert succeeded(unchecked)
    # 2. Its rows go bad and the blocking checks fail.
    corrupt_first_result(settings)
    checks = build_graph_in(settings, daemon.instance, dg.AssetSelection.checks_for_assets(RESULTS))
    ours.add(checks.run_id)
    failed = {e.check_name for e in checks.get_asset_check_evaluations() if not e.passed}
    assert "results_values_are_in_range" in failed
    blocked_at = time.time()
    blocked = daemon.wait_for_ticks(blocked_at, 2, 120)
    assert [t.requested_asset_materialization_count for t in blocked] == [0, 0]
    assert launched_by_daemon() == set(), "dbt must wait for the raw tables' blocking checks"

    # 3. The next good load passes its checks: the daemon launches dbt, the marts and the snapshot.
    good = build_graph_in(settings, daemon.instance, dg.AssetSelection.assets(RESULTS))
    ours.add(good.run_id)
    assert succeeded(good)
    deadline = time.monotonic() + 120
    while not launched_by_daemon():
        assert time.monotonic() < deadline, (
            f"nothing launched after a good load:\n{daemon.output()}"
        )
        time.sleep(1)
    time.sleep(2 * INTERVAL_SECONDS)  # one tick may launch several runs; take them all
    runs = daemon.wait_for_runs(launched_by_daemon())
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), daemon.output()
    launched = {r.run_id for r in runs}
    for key in (STAGING_RESULTS, FCT_RESULTS, SNAPSHOT):
        event = daemon.instance.get_latest_materialization_event(key)
        assert event is not None and event.run_id in launched, key.to_user_string()
    latest_results = daemon.instance.get_latest_materialization_event(RESULTS)
    assert latest_results is not None and latest_results.run_id == good.run_id, (
        "raw loads stay manual"
    )
