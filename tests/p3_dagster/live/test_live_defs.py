"""The live domain in Dagster: the in-race model materialised into MLflow, and the race-finished
sensor requesting ingestion of a finished race's season from a real Redis stream."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import redis
from mlflow import MlflowClient

from ml.in_race import CHAMPION_ALIAS, MODEL_NAME
from p3_dagster.defs.live.assets import IN_RACE_MODEL_KEY, MARTS_READ, build_in_race_model
from p3_dagster.defs.live.sensors import build_race_finished_sensor
from p3_dagster.lib.mlflow_resource import MlflowResource
from p3_dagster.lib.resources import WarehouseResource
from p3_live.streams import connect, finished_key

MACHINE_REDIS = "redis://127.0.0.1:6379/0"


def test_the_in_race_model_asset_registers_a_champion_with_its_calibration(
    demo_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    asset = build_in_race_model([dg.AssetKey(["marts", t]) for t in MARTS_READ])
    result = dg.materialize(
        [asset],
        resources={
            "duckdb": WarehouseResource(database=str(warehouse)),
            "mlflow": MlflowResource(tracking_uri=uri, artifacts_dir=str(tmp_path / "artifacts")),
        },
        run_config=dg.RunConfig(
            ops={
                "ml__in_race_model": {
                    "config": {"n_estimators": 40, "every_laps": 5, "min_season": 2020}
                }
            }
        ),
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == IN_RACE_MODEL_KEY
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["became_champion"] is True
    assert metadata["held_out_seasons"] == [2023, 2024]
    assert str(metadata["calibration_plot"]).startswith(
        "![in-race calibration](data:image/png;base64,"
    )
    client = MlflowClient(tracking_uri=uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert champion.run_id == metadata["mlflow_run_id"]
    run = client.get_run(champion.run_id)
    assert run.data.metrics["model/overall/win_brier"] == pytest.approx(
        metadata["model/win_brier"], rel=1e-3
    )


@pytest.fixture
def prefix() -> Iterator[str]:
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {MACHINE_REDIS}")
    name = f"p3test:live:{uuid.uuid4().hex[:12]}"
    yield name
    connect(MACHINE_REDIS).delete(finished_key(name))


def test_the_race_finished_sensor_requests_the_season_once_per_finished_race(prefix: str) -> None:
    sensor = build_race_finished_sensor(MACHINE_REDIS, prefix, seasons=range(2018, 2021))
    first = sensor(dg.build_sensor_context())
    assert isinstance(first, dg.SkipReason)
    assert first.skip_message == "no race finished since the start"
    client = connect(MACHINE_REDIS)
    client.xadd(finished_key(prefix), {"season": "2019", "round": "20"})
    client.xadd(finished_key(prefix), {"season": "1999", "round": "3"})  # not a partition here
    last = client.xadd(finished_key(prefix), {"season": "2020", "round": "1"})
    ticked = sensor(dg.build_sensor_context())
    assert isinstance(ticked, dg.SensorResult)
    assert [r.partition_key for r in ticked.run_requests or []] == ["2019", "2020"]
    assert ticked.cursor == last
    assert (ticked.run_requests or [])[0].tags["p3/race"] == "2019-20"
    again = sensor(dg.build_sensor_context(cursor=ticked.cursor))
    assert isinstance(again, dg.SkipReason)


def test_without_redis_the_sensor_skips_saying_what_to_set() -> None:
    sensor = build_race_finished_sensor(None, "p3:live", seasons=[2024])
    skipped = sensor(dg.build_sensor_context())
    assert isinstance(skipped, dg.SkipReason)
    assert "P3_LIVE_REDIS_URL" in (skipped.skip_message or "")
