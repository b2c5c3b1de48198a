"""``/v1/predictions`` and ``/v1/anomalies`` read the published ML outputs (serving/ml_snapshot)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from p3_ingest.publish import publish_snapshot
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi


def publish_ml_outputs(folder: Path) -> Path:
    """A warehouse ``ml`` schema shaped as the ML assets write it, published as they publish it."""
    warehouse = folder / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ml")
        con.execute(
            "create table ml.race_predictions as select 2024 as season, 12 as round, "
            "'Final Grand Prix' as race_name, 1 as race_id, d as driver_id, "
            "'Driver ' || d as driver_name, 'Team' as constructor_name, d as grid_position, "
            "d as predicted_rank, 1.0 / (d + 1) as win_prob, 0.5::double as podium_prob, "
            "0.0::double as score, "
            "null::integer as actual_rank, null::boolean as is_win, null::boolean as is_podium, "
            "'qualifying' as entry_basis from range(3, 0, -1) t(d)"
        )
        con.execute(
            "create table ml.lap_time_anomalies as select 1 as race_id, 2024 - (i % 2) as season, "
            "1 + i % 3 as round, i as driver_id, 1 as constructor_id, 10 + i as lap, 1 as stint, "
            "90000 as lap_time_ms, 85000.0::double as expected_ms, 5000.0::double as delta_ms, "
            "((i - 20) * 0.5)::double as robust_z, 'slow' as direction, false as is_field_wide "
            "from range(40) t(i)"
        )
        con.execute(
            "create table ml.pit_stop_anomalies as select 1 as race_id, 2024 as season, 1 as round, "
            "1 as driver_id, 1 as constructor_id, 1 as stop, 20 as lap, 40000 as duration_ms, "
            "22000.0::double as race_median_ms, 18000.0::double as delta_ms, 9.0::double as robust_z, "
            "'slow' as direction"
        )
    published = folder / "serving_ml.duckdb"
    publish_snapshot(warehouse, published, run_id="test-run", schemas=("ml",))
    return published


def test_predictions_and_anomalies_come_from_the_published_ml_outputs(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    ml_path = publish_ml_outputs(tmp_path)
    server = start_api(snapshot.path, workers=1, P3_ML_SNAPSHOT_PATH=str(ml_path))
    with server.client() as client:
        predictions = client.get("/v1/predictions").json()
        laps = client.get("/v1/anomalies", params={"kind": "laps", "season": 2024, "limit": 5})
        stops = client.get("/v1/anomalies", params={"kind": "pit_stops"}).json()
        bad = client.get("/v1/anomalies", params={"kind": "tyres"})
    assert predictions["race"] == {
        "season": 2024,
        "round": 12,
        "race_name": "Final Grand Prix",
        "entry_basis": "qualifying",
    }
    assert [p["predicted_rank"] for p in predictions["predictions"]] == [1, 2, 3]
    body = laps.json()
    assert body["total"] == 20 and len(body["items"]) == 5
    z = [abs(item["robust_z"]) for item in body["items"]]
    assert z == sorted(z, reverse=True) and all(i["season"] == 2024 for i in body["items"])
    assert stops["total"] == 1 and stops["items"][0]["duration_ms"] == 40000
    assert bad.status_code == 422 and "kind" in bad.json()["detail"]
    assert laps.headers["x-p3-build"] == predictions["build_id"]


def test_without_published_ml_outputs_the_routes_say_what_publishes_them(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    server = start_api(snapshot.path, workers=1, P3_ML_SNAPSHOT_PATH=str(tmp_path / "none.duckdb"))
    with server.client() as client:
        response = client.get("/v1/predictions")
    assert response.status_code == 503
    assert "serving/ml_snapshot" in response.json()["detail"]


def test_an_unreadable_ml_table_is_a_500_problem_and_the_server_keeps_serving(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    """Schema drift in the published file (no predicted_rank): a logged 500, not a reset."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ml")
        con.execute("create table ml.race_predictions as select 1 as season")
    published = tmp_path / "serving_ml.duckdb"
    publish_snapshot(warehouse, published, run_id="drift", schemas=("ml",))
    server = start_api(snapshot.path, workers=1, P3_ML_SNAPSHOT_PATH=str(published))
    with server.client() as client:
        broken = client.get("/v1/predictions")
        alive = client.get("/healthz")
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert "predicted_rank" not in broken.text and "Traceback" not in broken.text
    assert alive.status_code == 200
    assert "predicted_rank" in server.output()  # the operator's log has the cause
