"""The in-race model: lap features as defined, normalised probabilities, a tracked MLflow run with
its calibration plot and a guarded champion, and (real data) better than both baselines."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml.in_race import (
    CHAMPION_ALIAS,
    FEATURES,
    MODEL_NAME,
    InRaceConfig,
    evaluate_in_race,
    lap_features,
)
from ml.in_race_registry import train_evaluate_register_in_race, training_rows
from ml.registry import open_run

DEMO = InRaceConfig(min_season=2020, n_estimators=60, every_laps=5)


def test_lap_features_measure_gap_pits_and_laps_remaining() -> None:
    history = {
        "laps": pd.DataFrame(
            {
                "race_id": [1] * 6,
                "season": [2020] * 6,
                "round": [1] * 6,
                "driver_id": [10, 10, 10, 20, 20, 20],
                "lap": [1, 2, 3, 1, 2, 3],
                "position": [1, 1, 2, 2, 2, 1],
                "elapsed_ms": [90_000, 180_000, 290_000, 91_000, 185_000, 275_000],
            }
        ),
        "stops": pd.DataFrame({"race_id": [1], "driver_id": [10], "lap": [2]}),
        "outcomes": pd.DataFrame(
            {
                "race_id": [1, 1],
                "driver_id": [10, 20],
                "is_win": [False, True],
                "is_podium": [True, True],
                "total_laps": [4, 4],
            }
        ),
    }
    pre_race = pd.DataFrame(
        {
            "race_id": [1],
            "driver_id": [10],
            "pre_race_win_prob": [0.6],
            "pre_race_podium_prob": [0.9],
        }
    )
    rows = lap_features(history, pre_race).set_index(["driver_id", "lap"])
    assert rows.loc[(20, 2), "gap_s"] == 5.0
    assert rows.loc[(10, 3), "gap_s"] == 15.0 and rows.loc[(20, 3), "gap_s"] == 0.0
    assert rows.loc[(10, 1), "pit_count"] == 0 and rows.loc[(10, 2), "pit_count"] == 1
    assert (
        rows.loc[(10, 3), "laps_remaining"] == 1
        and rows.loc[(10, 1), "laps_remaining_frac"] == 0.75
    )
    assert rows.loc[(10, 1), "pre_race_win_prob"] == 0.6
    assert np.isnan(rows.loc[(20, 1), "pre_race_win_prob"])  # unknown stays missing, not 0
    assert rows.loc[(20, 3), "is_win"] == 1


@pytest.fixture(scope="module")
def demo_rows(demo_warehouse: Path) -> tuple[pd.DataFrame, list[int]]:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        return training_rows(con, DEMO)


def test_probabilities_are_normalised_within_each_race_and_lap(
    demo_rows: tuple[pd.DataFrame, list[int]],
) -> None:
    rows, held_out = demo_rows
    assert held_out == [2023, 2024]
    assert not rows[FEATURES[:-2]].isna().any().any()
    model, evaluation = evaluate_in_race(rows, held_out, DEMO)
    predicted = model.predict(rows[rows["season"].isin(held_out)])
    sums = predicted.groupby(["race_id", "lap"])[["win_prob", "podium_prob"]].sum()
    assert np.allclose(sums["win_prob"], 1.0)
    assert (sums["podium_prob"] <= 3.0 + 1e-9).all()
    assert predicted[["win_prob", "podium_prob"]].stack().between(0, 1).all()
    assert set(evaluation.summary["predictor"]) == {"model", "pre_race", "position_rate"}


def test_a_training_run_logs_calibration_and_guards_the_champion(
    demo_rows: tuple[pd.DataFrame, list[int]], mlflow_uri: str, tmp_path: Path
) -> None:
    rows, held_out = demo_rows
    with open_run(mlflow_uri, "p3-tests", artifacts_dir=tmp_path / "artifacts"):
        first = train_evaluate_register_in_race(rows, held_out, DEMO)
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(first.run_id)
    assert first.promoted and first.decision == "no champion yet"
    assert "plots/calibration.png" in {a.path for a in client.list_artifacts(first.run_id, "plots")}
    for predictor in ("model", "pre_race", "position_rate"):
        assert f"{predictor}/overall/win_brier" in run.data.metrics
    assert run.data.params["held_out_seasons"] == "2023,2024"
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == first.model_version
    # The same data again cannot beat the champion (equal score): the alias stays.
    with open_run(mlflow_uri, "p3-tests", artifacts_dir=tmp_path / "artifacts"):
        second = train_evaluate_register_in_race(rows, held_out, DEMO)
    assert not second.promoted and "does not beat" in second.decision
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == first.model_version


@pytest.mark.real_data
@pytest.mark.slow
def test_on_real_laps_the_model_beats_the_pre_race_and_position_baselines(
    real_warehouse: Path,
) -> None:
    config = InRaceConfig()
    with duckdb.connect(str(real_warehouse), read_only=True) as con:
        rows, held_out = training_rows(con, config)
    _, evaluation = evaluate_in_race(rows, held_out, config)
    for metric in ("win_brier", "win_log_loss", "podium_brier"):
        model = evaluation.metric("model", metric)
        assert model < evaluation.metric("pre_race", metric), metric
        assert model < evaluation.metric("position_rate", metric), metric
