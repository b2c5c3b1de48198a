"""MLflow: a training run logs metrics, baselines, plots and the model; the champion alias is guarded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
from mlflow import MlflowClient

from ml.predict import CHAMPION_ALIAS, MODEL_NAME, latest_race_predictions, load_champion
from ml.registry import TrainingOutcome, open_run, train_evaluate_register
from ml.train import TrainConfig

HELD_OUT = [2023, 2024]
GOOD = TrainConfig(min_season=2020, n_estimators=120)
# One near-random feature: worse than any model that sees the grid or the form.
WEAK = TrainConfig(min_season=2020, n_estimators=20, features=("driver_mech_dnf_rate_20",))


def _train(
    uri: str, artifacts: Path, features: pd.DataFrame, config: TrainConfig
) -> TrainingOutcome:
    with open_run(uri, "p3-tests", artifacts_dir=artifacts):
        return train_evaluate_register(features, config, HELD_OUT)


def _champion(uri: str) -> str:
    version = MlflowClient(tracking_uri=uri).get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    return str(version.version)


def test_training_run_logs_metrics_baselines_plots_and_a_loadable_champion(
    mlflow_uri: str, tmp_path: Path, demo_features: pd.DataFrame, demo_warehouse: Path
) -> None:
    outcome = _train(mlflow_uri, tmp_path / "artifacts", demo_features, GOOD)

    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(outcome.run_id)
    for predictor in ("model", "grid", "constructor_form"):
        for season in ("2023", "2024", "overall"):
            assert f"{predictor}/{season}/spearman" in run.data.metrics
    assert run.data.params["held_out_seasons"] == "2023,2024"
    assert run.data.tags["became_champion"] == "True"
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id, "plots")}
    assert {"plots/feature_importance.png", "plots/calibration.png"} <= artifacts
    assert (tmp_path / "artifacts").is_dir()
    version = client.get_model_version(MODEL_NAME, outcome.model_version)
    assert version.run_id == outcome.run_id
    assert outcome.became_champion and _champion(mlflow_uri) == outcome.model_version

    champion = load_champion(mlflow_uri)
    assert champion.metadata.get_input_schema() is not None
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        table = latest_race_predictions(con, champion)
    assert len(table) == 20
    needed = ["driver_name", "predicted_rank", "win_prob", "podium_prob", "actual_rank"]
    assert not table[needed].isna().any().any()
    assert table["predicted_rank"].tolist() == list(range(1, 21))


def test_champion_alias_moves_to_a_better_version_and_stays_for_a_worse_one(
    mlflow_uri: str, tmp_path: Path, demo_features: pd.DataFrame
) -> None:
    artifacts = tmp_path / "artifacts"
    first = _train(mlflow_uri, artifacts, demo_features, WEAK)
    assert first.became_champion and _champion(mlflow_uri) == first.model_version

    better = _train(mlflow_uri, artifacts, demo_features, GOOD)
    assert better.comparison.champion_version == first.model_version
    assert better.comparison.seasons == HELD_OUT
    assert better.comparison.new_score > better.comparison.champion_score
    assert better.became_champion and _champion(mlflow_uri) == better.model_version

    worse = _train(mlflow_uri, artifacts, demo_features, WEAK)
    assert not worse.became_champion
    assert _champion(mlflow_uri) == better.model_version

    client = MlflowClient(tracking_uri=mlflow_uri)
    decision = client.get_run(worse.run_id).data.tags["champion_decision"]
    assert "does not beat" in decision
    logged = client.download_artifacts(worse.run_id, "champion_comparison.json", str(tmp_path))
    assert '"promote": false' in Path(logged).read_text()
