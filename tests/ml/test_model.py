"""Training and season-by-season evaluation on the demo marts; metric definitions on hand-made races."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.evaluate import METRICS, PREDICTORS, evaluate, race_metrics
from ml.train import PREDICTION_COLUMNS, TrainConfig, fit

DEMO_CONFIG = TrainConfig(min_season=2020, n_estimators=120)


def test_walk_forward_evaluation_scores_the_model_and_both_baselines_on_each_held_out_season(
    demo_features: pd.DataFrame,
) -> None:
    evaluation = evaluate(demo_features, [2023, 2024], DEMO_CONFIG)

    summary = evaluation.summary
    assert list(summary["season"].unique()) == ["2023", "2024", "overall"]
    assert set(summary["predictor"]) == set(PREDICTORS)
    assert summary[["races", *METRICS]].notna().all().all()
    assert summary.loc[summary["season"] == "overall", "races"].eq(24).all()
    assert summary["spearman"].between(-1, 1).all()
    assert summary["podium_brier"].between(0, 1).all()
    # Demo races follow car pace: everything that reads the form or the grid beats chance clearly.
    assert evaluation.metric("model", "spearman") > 0.4
    assert evaluation.metric("grid", "spearman") > 0.4
    assert set(evaluation.mlflow_metrics()) >= {"model/2023/spearman", "grid/overall/podium_brier"}


def test_predictions_are_complete_and_probabilities_are_consistent(
    demo_features: pd.DataFrame,
) -> None:
    model = fit(demo_features[demo_features["season"] < 2024], DEMO_CONFIG)
    held_out = demo_features[demo_features["season"] == 2024]

    predicted = model.predict(held_out)

    assert list(predicted.columns) == PREDICTION_COLUMNS
    assert len(predicted) == len(held_out)
    assert not predicted.isna().any().any()
    assert predicted.groupby("race_id")["win_prob"].sum().round(9).eq(1).all()
    assert predicted["podium_prob"].between(0, 1).all()
    for _, race in predicted.groupby("race_id"):
        assert sorted(race["predicted_rank"]) == list(range(1, len(race) + 1))
    assert set(model.feature_importance().index) == set(model.features)


def test_training_without_rows_fails_instead_of_returning_a_model(
    demo_features: pd.DataFrame,
) -> None:
    with pytest.raises(ValueError, match="no training rows"):
        fit(demo_features, TrainConfig(min_season=2100))


def _race(predicted_order: list[int]) -> pd.DataFrame:
    """A 5-car race finishing 1..5 where the prediction ranks the cars as ``predicted_order``."""
    return pd.DataFrame(
        {
            "season": 2024,
            "race_id": 1,
            "finish_rank": [1, 2, 3, 4, 5],
            "predicted_rank": predicted_order,
            "is_win": [1, 0, 0, 0, 0],
            "is_podium": [1, 1, 1, 0, 0],
            "podium_prob": [1.0, 1.0, 1.0, 0.0, 0.0],
        }
    )


def test_a_perfect_prediction_scores_one_on_every_ranking_metric_and_zero_brier() -> None:
    metrics = race_metrics(_race([1, 2, 3, 4, 5])).iloc[0]

    assert metrics["spearman"] == pytest.approx(1)
    assert metrics["winner_top1"] == 1
    assert metrics["podium_precision"] == 1
    assert metrics["ndcg_at_3"] == pytest.approx(1)
    assert metrics["brier_sum"] == 0


def test_a_reversed_prediction_scores_minus_one_and_misses_the_podium() -> None:
    metrics = race_metrics(_race([5, 4, 3, 2, 1])).iloc[0]

    assert metrics["spearman"] == pytest.approx(-1)
    assert metrics["winner_top1"] == 0
    # Reversed, the predicted top 3 are P5, P4 and P3: one podium finisher, in third place.
    assert metrics["podium_precision"] == pytest.approx(1 / 3)
    assert 0 < metrics["ndcg_at_3"] < 0.2
