"""The ML assets in Dagster: materialised on a copy of the demo warehouse with a tmp MLflow store."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster._utils.schedules import cron_string_iterator  # no public "next tick" helper in 1.13

from ml.registry import open_run, train_evaluate_register
from ml.train import TrainConfig
from p3_common.snapshot import read_snapshot
from p3_dagster.defs.ml import build_defs
from p3_dagster.defs.ml.assets import MARTS_READ, MODEL_KEY, PREDICTIONS_KEY, significant
from p3_dagster.lib.mlflow_resource import MlflowResource
from p3_dagster.lib.resources import PublishedSnapshotResource, WarehouseResource

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the definitions load the manifest

MARTS = sorted({dg.AssetKey(["marts", t]) for tables in MARTS_READ.values() for t in tables})


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, dg.ConfigurableResource]:
    return {
        "duckdb": WarehouseResource(database=str(tmp_path / "warehouse.duckdb")),
        "mlflow": MlflowResource(
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
            artifacts_dir=str(tmp_path / "mlflow" / "artifacts"),
        ),
        "ml_snapshot": PublishedSnapshotResource(path=str(tmp_path / "serving_ml.duckdb")),
    }


@pytest.fixture
def ml_defs(tmp_path: Path, resources: dict[str, dg.ConfigurableResource]) -> dg.Definitions:
    return dg.Definitions.merge(build_defs(MARTS), dg.Definitions(resources=resources))


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_ml_assets_sit_downstream_of_their_marts_and_only_the_model_waits_for_the_schedule(
    ml_defs: dg.Definitions,
) -> None:
    graph = ml_defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys() if key.path[0] == "ml"}
    assert keys == {
        "ml/race_outcome_model",
        "ml/race_predictions",
        "ml/lap_time_anomalies",
        "ml/pit_stop_anomalies",
        "ml/driver_race_profiles",
    }
    for key in graph.get_all_asset_keys():
        if key.path[0] != "ml":
            continue
        node = graph.get(key)
        assert node.group_name == "ml"
        assert node.pools == {"duckdb_write"}
        assert set(MARTS_READ[key]) <= {p.path[-1] for p in node.parent_keys}
        assert (node.automation_condition is None) == (key == MODEL_KEY)
    assert MODEL_KEY in graph.get(PREDICTIONS_KEY).parent_keys
    schedule = ml_defs.resolve_schedule_def("train_models_monthly_schedule")
    assert schedule.job_name == "train_models_job"
    ticks = cron_string_iterator(
        datetime(2024, 7, 2, tzinfo=UTC).timestamp(),
        schedule.cron_schedule,
        schedule.execution_timezone,
    )
    assert [next(ticks), next(ticks)] == [  # monthly, early on the 1st, before the day's loads
        datetime(2024, 8, 1, 4, tzinfo=UTC),
        datetime(2024, 9, 1, 4, tzinfo=UTC),
    ]


def test_build_defs_names_the_marts_it_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fct_lap_times"):
        build_defs([k for k in MARTS if k.path[-1] != "fct_lap_times"])


def test_materialising_the_ml_assets_trains_registers_predicts_and_writes_the_ml_schema(
    ml_defs: dg.Definitions,
    resources: dict[str, dg.ConfigurableResource],
    demo_warehouse: Path,
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)

    result = dg.materialize(
        list(ml_defs.assets or []),  # type: ignore[arg-type]
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    model = _metadata(result, MODEL_KEY)
    assert model["became_champion"] is True
    assert str(model["mlflow_run"]).endswith(str(model["mlflow_run_id"]))
    assert "| model" in str(model["evaluation"])
    assert str(model["calibration_plot"]).startswith("![podium calibration](data:image/png;base64,")
    assert _metadata(result, PREDICTIONS_KEY)["dagster/row_count"] == 20
    laps = _metadata(result, dg.AssetKey(["ml", "lap_time_anomalies"]))
    checked, flagged = int(laps["laps_checked"]), int(laps["dagster/row_count"])  # type: ignore[call-overload]
    assert checked > 50_000 and 0 < flagged < 0.05 * checked
    profiles = _metadata(result, dg.AssetKey(["ml", "driver_race_profiles"]))
    assert "data:image/png;base64," in str(profiles["plot"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'ml'"
            ).fetchall()
        }
        nulls = con.execute(
            "select count(*) from ml.race_predictions "
            "where predicted_rank is null or win_prob is null or podium_prob is null"
        ).fetchone()
    assert tables == {
        "race_predictions",
        "lap_time_anomalies",
        "pit_stop_anomalies",
        "driver_race_profiles",
    }
    assert nulls == (0,)
    # The outputs are published read-only for the API, with their row counts.
    published = read_snapshot(tmp_path / "serving_ml.duckdb")
    assert published.tables == {
        f"ml.{name}": _metadata(result, dg.AssetKey(["ml", name]))["dagster/row_count"]
        for name in tables
    }


def test_race_predictions_asset_predicts_a_qualified_race_without_results_and_leaves_actuals_null(
    ml_defs: dg.Definitions,
    resources: dict[str, dg.ConfigurableResource],
    demo_warehouse: Path,
    demo_features: pd.DataFrame,
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        (race_id,) = con.execute(
            "select race_id from marts.dim_races order by season desc, round desc limit 1"
        ).fetchone()  # type: ignore[misc]
        con.execute("delete from marts.fct_race_results where race_id = ?", [race_id])
    mlflow_resource = resources["mlflow"]
    assert isinstance(mlflow_resource, MlflowResource)
    with open_run(
        mlflow_resource.tracking_uri, "p3-tests", artifacts_dir=tmp_path / "mlflow" / "artifacts"
    ):
        train_evaluate_register(
            demo_features, TrainConfig(min_season=2020, n_estimators=60), [2024]
        )
    predictions = [a for a in ml_defs.assets or [] if PREDICTIONS_KEY in a.keys]  # type: ignore[union-attr]

    result = dg.materialize(
        predictions,  # type: ignore[arg-type]
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    metadata = _metadata(result, PREDICTIONS_KEY)
    assert metadata["entry_basis"] == "qualifying"
    assert metadata["predicted_winner_won"] is None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select count(*), count(distinct race_id), max(race_id), count(actual_rank), "
            "count(is_win) from ml.race_predictions"
        ).fetchone()
        qualifiers = con.execute(
            "select count(*) from marts.fct_qualifying where race_id = ?", [race_id]
        ).fetchone()
    assert rows == (qualifiers[0], 1, race_id, 0, 0)  # type: ignore[index]


def test_the_model_trains_only_when_missing_or_its_data_changed(
    ml_defs: dg.Definitions,
    resources: dict[str, dg.ConfigurableResource],
    demo_warehouse: Path,
    tmp_path: Path,
) -> None:
    shutil.copyfile(demo_warehouse, tmp_path / "warehouse.duckdb")
    model_asset = [a for a in ml_defs.assets or [] if MODEL_KEY in a.keys]  # type: ignore[union-attr]
    config = {"ops": {"ml__race_outcome_model": {"config": {"n_estimators": 40}}}}

    def train() -> dict[str, object]:
        result = dg.materialize(
            model_asset,  # type: ignore[arg-type]
            resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
            run_config=config,
        )
        assert result.success
        return _metadata(result, MODEL_KEY)

    first = train()
    assert str(first["training"]).startswith("trained: no model registered")
    second = train()
    assert second["training"] == (
        f"skipped: model up to date (data fingerprint {first['data_fingerprint']}): version "
        f"{first['model_version']} was trained on the same features and settings"
    )
    assert second["model_version"] == first["model_version"]
    assert second["model/spearman"] == first["model/spearman"]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:  # one result changes
        con.execute(
            "update marts.fct_race_results set grid = grid + 1 "
            "where result_id = (select max(result_id) from marts.fct_race_results)"
        )
    third = train()
    assert str(third["training"]).startswith("trained: training data changed")
    assert third["data_fingerprint"] != first["data_fingerprint"]
    assert int(third["model_version"]) == int(first["model_version"]) + 1  # type: ignore[call-overload]


def test_model_metrics_in_metadata_have_four_significant_digits() -> None:
    assert significant(0.123456789) == 0.1235
    assert significant(-0.00098765) == -0.0009877
    assert significant(12.3456) == 12.35
