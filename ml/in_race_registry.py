"""MLflow for the in-race model: train, evaluate on held-out seasons, log metrics and the
calibration plot, register `p3-in-race` and move its `champion` alias only on a better score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import lightgbm
import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from .in_race import (
    CHAMPION_ALIAS,
    FEATURES,
    GROUP,
    MODEL_NAME,
    InRaceConfig,
    InRaceEvaluation,
    InRacePyfunc,
    calibration_figure,
    evaluate_in_race,
    fit_in_race,
    lap_features,
    load_history,
    pre_race_predictions,
)

# Lower is better; compared overall on the held-out seasons both runs share.
PRIMARY_METRIC = "win_brier"


@dataclass(frozen=True)
class InRaceOutcome:
    """What one training run produced."""

    run_id: str
    experiment_id: str
    model_version: str
    model_uri: str
    evaluation: InRaceEvaluation
    promoted: bool
    decision: str
    figure: Any
    rows: int


def training_rows(
    con: duckdb.DuckDBPyConnection, config: InRaceConfig, held_out: list[int] | None = None
) -> tuple[pd.DataFrame, list[int]]:
    """Lap rows from ``config.min_season`` with out-of-sample pre-race probabilities, and the
    held-out seasons (default: the two latest seasons with lap times)."""
    history = load_history(con, min_season=config.min_season)
    seasons = sorted(int(s) for s in history["laps"]["season"].unique())
    if held_out is None:
        if len(seasons) < 3:
            raise ValueError(
                f"the in-race model needs lap times of 3+ seasons from {config.min_season}, has {seasons}"
            )
        held_out = seasons[-2:]
    pre_race = pre_race_predictions(con, held_out=held_out, min_season=config.min_season)
    return lap_features(history, pre_race, every_laps=config.every_laps), held_out


def train_evaluate_register_in_race(
    rows: pd.DataFrame, held_out: list[int], config: InRaceConfig
) -> InRaceOutcome:
    """Inside the active run: evaluate on ``held_out``, fit on every season, log, register and
    decide the champion. Training errors propagate and fail the run."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("train_evaluate_register_in_race needs an active MLflow run")
    _, evaluation = evaluate_in_race(rows, held_out, config)
    model = fit_in_race(rows, config)
    mlflow.log_params(
        config.params()
        | {
            "held_out_seasons": ",".join(map(str, held_out)),
            "rows": len(rows),
            "features": ",".join(FEATURES),
        }
    )
    mlflow.log_metrics(evaluation.mlflow_metrics())
    mlflow.log_table(evaluation.summary, "evaluation/summary.json")
    mlflow.log_text(
        evaluation.summary.to_markdown(index=False, floatfmt=".4f"), "evaluation/summary.md"
    )
    figure = calibration_figure(evaluation.predictions)
    mlflow.log_figure(figure, "plots/calibration.png")
    example = rows[[*GROUP, "driver_id", *FEATURES]].head(20)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=InRacePyfunc(model),
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        registered_model_name=MODEL_NAME,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lightgbm.__version__}",
            f"pandas=={pd.__version__}",
        ],
    )
    if info.registered_model_version is None:
        raise RuntimeError(f"model was logged but not registered as {MODEL_NAME}")
    version = str(info.registered_model_version)
    client = MlflowClient()
    promoted, decision = _beats_champion(client, evaluation)
    if promoted:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, version)
    mlflow.set_tags({"became_champion": str(promoted), "champion_decision": decision})
    return InRaceOutcome(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        model_version=version,
        model_uri=f"models:/{MODEL_NAME}/{version}",
        evaluation=evaluation,
        promoted=promoted,
        decision=decision,
        figure=figure,
        rows=len(rows),
    )


def _beats_champion(client: MlflowClient, evaluation: InRaceEvaluation) -> tuple[bool, str]:
    new = evaluation.metric("model", PRIMARY_METRIC)
    try:
        champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    except MlflowException:
        return True, "no champion yet"
    logged = client.get_run(str(champion.run_id))
    same_seasons = logged.data.params.get("held_out_seasons") == ",".join(
        map(str, evaluation.seasons)
    )
    old = logged.data.metrics.get(f"model/overall/{PRIMARY_METRIC}")
    if old is None or not same_seasons:
        return False, f"champion v{champion.version} was evaluated on other seasons; alias kept"
    promote = new < old
    verdict = "beats" if promote else "does not beat"
    return promote, f"{PRIMARY_METRIC} {new:.5f} {verdict} champion v{champion.version} {old:.5f}"
