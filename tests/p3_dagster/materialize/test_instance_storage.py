"""The local instance's event log (lib/instance_storage.py): Dagster's SQLite storage with
`synchronous=OFF` and batches in one transaction, and everything P3 reads from it unchanged."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from sqlalchemy.engine import Engine

from p3_common.settings import REPO_ROOT
from p3_dagster.lib.instance_storage import LocalSqliteEventLogStorage
from p3_dagster.materialize import EVENT_BATCH_SIZE, INSTANCE_TEMPLATE, instance_config

RUN = "run-1"


@pytest.fixture
def local_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """An instance from the local template (what `p3 materialize` and `make dev` use)."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(EVENT_BATCH_SIZE, "1000")
    with dg.DagsterInstance.get() as instance:
        yield instance


def planned(key: str, check: str | None = None) -> EventLogEntry:
    if check is None:
        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
            job_name="j",
            event_specific_data=AssetMaterializationPlannedData(dg.AssetKey(key)),
        )
    else:
        from dagster._core.definitions.asset_checks.asset_check_evaluation import (
            AssetCheckEvaluationPlanned,
        )

        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value,
            job_name="j",
            event_specific_data=AssetCheckEvaluationPlanned(
                asset_key=dg.AssetKey(key), check_name=check
            ),
        )
    return EventLogEntry(
        error_info=None,
        level=10,
        user_message="",
        run_id=RUN,
        timestamp=time.time(),
        dagster_event=event,
        job_name="j",
    )


def batch() -> list[EventLogEntry]:
    return [planned(f"a{i}") for i in range(5)] + [planned(f"a{i}", "ok") for i in range(5)]


def commits(storage: LocalSqliteEventLogStorage) -> list[str]:
    """Every commit on any of ``storage``'s SQLite files, as the name of the file."""
    seen: list[str] = []
    original = storage._engine
    listening: set[str] = set()

    def engine(shard: str) -> Engine:
        made = original(shard)
        if shard not in listening:
            listening.add(shard)
            sqlalchemy_event.listen(made, "commit", lambda _conn: seen.append(shard))
        return made

    storage._engine = engine  # type: ignore[method-assign]
    return seen


def test_the_local_instance_uses_the_storage_with_synchronous_off(
    local_instance: dg.DagsterInstance,
) -> None:
    storage = local_instance.event_log_storage
    assert isinstance(storage, LocalSqliteEventLogStorage)
    # Dagster's layout, so a home written before keeps its run history.
    assert Path(storage._base_dir) == Path(local_instance.root_directory) / "history" / "runs"
    with storage.index_connection() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 0  # OFF
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"  # Dagster's own


def test_the_home_written_by_p3_loads_where_dagster_home_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_config(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, LocalSqliteEventLogStorage)
        assert storage.synchronous == "OFF"
        assert Path(storage._base_dir) == home / "history" / "runs"


def test_the_production_config_is_left_on_postgres() -> None:
    assert "instance_storage" not in (REPO_ROOT / "deploy" / "dagster.yaml").read_text()


def test_a_batch_is_one_commit_per_file_and_reads_like_single_writes(tmp_path: Path) -> None:
    batched = LocalSqliteEventLogStorage(str(tmp_path / "batched"))
    single = SqliteEventLogStorage(str(tmp_path / "single"))
    batched.store_event(planned("z"))  # creating the run's file is commits of its own
    seen = commits(batched)
    batched.store_event_batch(batch())
    single.store_event(planned("z"))
    for entry in batch():
        single.store_event(entry)
    assert sorted(seen) == ["index", RUN]
    for storage in (batched, single):
        records = storage.get_records_for_run(RUN).records
        assert [r.event_log_entry.dagster_event_type for r in records[1:]] == [
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ] * 5 + [DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED] * 5
    key = dg.AssetKey("a3")
    for storage in (batched, single):
        (record,) = storage.get_asset_records([key])
        assert record.asset_entry.last_run_id == RUN
        (execution,) = storage.get_asset_check_execution_history(
            dg.AssetCheckKey(key, "ok"), limit=5
        )
        assert execution.run_id == RUN and execution.status.value == "PLANNED"


def test_a_failed_batch_commits_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalSqliteEventLogStorage(str(tmp_path))
    calls = {"n": 0}
    original = LocalSqliteEventLogStorage.store_asset_check_event

    def failing_on_the_third(self, event, event_id):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return original(self, event, event_id)

    monkeypatch.setattr(LocalSqliteEventLogStorage, "store_asset_check_event", failing_on_the_third)
    with pytest.raises(RuntimeError, match="disk full"):
        storage.store_event_batch(batch())
    # Dagster then writes the events one by one; none may be there twice.
    assert storage.get_records_for_run(RUN).records == []
    assert storage.get_asset_records([dg.AssetKey("a0")]) == []


def test_a_run_with_checks_and_partitions_records_everything_p3_reads(
    local_instance: dg.DagsterInstance,
) -> None:
    seasons = dg.StaticPartitionsDefinition(["2023", "2024"])

    @dg.asset(partitions_def=seasons, check_specs=[dg.AssetCheckSpec("has_rows", asset="races")])
    def races() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="has_rows", passed=True)]
        )

    storage = local_instance.event_log_storage
    assert isinstance(storage, LocalSqliteEventLogStorage)
    seen = commits(storage)

    def run() -> tuple[int, int]:
        """(events, commits on the run's file) of a run of both partitions."""
        result = dg.materialize(
            [races],
            instance=local_instance,
            tags={
                "dagster/asset_partition_range_start": "2023",
                "dagster/asset_partition_range_end": "2024",
            },
        )
        assert result.success
        run = local_instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        (execution,) = storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("races"), "has_rows"), limit=1
        )
        assert execution.run_id == result.run_id and execution.status.value == "SUCCEEDED"
        events = storage.get_records_for_run(result.run_id, limit=1000).records
        return len(events), seen.count(result.run_id)

    with pytest.MonkeyPatch.context() as unbatched:
        unbatched.setenv(EVENT_BATCH_SIZE, "0")
        events_single, commits_single = run()
    events_batched, commits_batched = run()
    assert local_instance.get_materialized_partitions(dg.AssetKey("races")) == {"2023", "2024"}
    assert events_batched == events_single
    # At least two batches of two events, each one commit: the planned events (the asset and its
    # check) and the step's two per-partition materialisations.
    assert commits_single - commits_batched >= 2


def test_the_ui_watcher_still_sees_new_events(local_instance: dg.DagsterInstance) -> None:
    storage = local_instance.event_log_storage
    storage.store_event(planned("a0"))  # the run's file exists before the watch starts
    arrived = threading.Event()

    def on_event(entry: EventLogEntry, cursor: str) -> None:
        if entry.dagster_event is not None and entry.dagster_event.asset_key == dg.AssetKey("a2"):
            arrived.set()

    storage.watch(RUN, None, on_event)
    try:
        storage.store_event_batch([planned("a1"), planned("a2")])
        assert arrived.wait(timeout=10), "the watcher saw no change of the run's file"
    finally:
        storage.end_watch(RUN, on_event)
