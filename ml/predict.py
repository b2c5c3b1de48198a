"""Predictions from the registered champion: the MLflow pyfunc wrapper and latest-race predictions."""

from __future__ import annotations

import duckdb
import mlflow
import mlflow.pyfunc
import pandas as pd

from .features import build_features, load_inputs
from .train import RaceOutcomeModel

MODEL_NAME = "p3-race-outcome"
CHAMPION_ALIAS = "champion"
# Input columns besides the features: predictions are normalised within each race.
ID_COLUMNS = ["race_id", "driver_id"]


class RaceOutcomePyfunc(mlflow.pyfunc.PythonModel):
    """The trained ``RaceOutcomeModel`` behind MLflow's generic pyfunc interface."""

    def __init__(self, model: RaceOutcomeModel) -> None:
        self.model = model

    # No type hints on model_input: MLflow 3 would otherwise derive (and enforce) a schema from
    # them instead of the signature logged with the model.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """PREDICTION_COLUMNS for rows with ``race_id``, ``driver_id`` and every feature."""
        return self.model.predict(pd.DataFrame(model_input))


def champion_uri(name: str = MODEL_NAME) -> str:
    """The models:/ URI of the version the ``champion`` alias points at."""
    return f"models:/{name}@{CHAMPION_ALIAS}"


def load_champion(tracking_uri: str, name: str = MODEL_NAME) -> mlflow.pyfunc.PyFuncModel:
    """Load the champion version from the registry at ``tracking_uri``."""
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(champion_uri(name))


def model_input(features: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """The columns a logged model takes, in its order."""
    return features[ID_COLUMNS + feature_names].reset_index(drop=True)


def latest_race_predictions(
    con: duckdb.DuckDBPyConnection, model: mlflow.pyfunc.PyFuncModel
) -> pd.DataFrame:
    """Predicted order and win/podium probabilities for the latest race with entries in the marts.

    One row per starter, best predicted first, with the driver and team names and, when the race
    has been run, the actual finishing rank beside the prediction.
    """
    features = build_features(load_inputs(con))
    latest = features[features["race_seq"] == features["race_seq"].max()]
    schema = model.metadata.get_input_schema()
    columns = schema.input_names() if schema is not None else list(features.columns)
    predicted = pd.DataFrame(model.predict(latest[columns]))
    names = _entry_names(con, int(latest["race_id"].iloc[0]))
    actual = latest[["race_id", "driver_id", "grid_position", "finish_rank", "is_win", "is_podium"]]
    table = predicted.merge(actual, on=ID_COLUMNS).merge(names, on=ID_COLUMNS, how="left")
    table = table.rename(columns={"finish_rank": "actual_rank"})
    table["actual_rank"] = table["actual_rank"].astype("Int64")
    return table.sort_values("predicted_rank").reset_index(drop=True)[PREDICTIONS_TABLE_COLUMNS]


PREDICTIONS_TABLE_COLUMNS = [
    "season",
    "round",
    "race_name",
    "race_id",
    "driver_id",
    "driver_name",
    "constructor_name",
    "grid_position",
    "predicted_rank",
    "win_prob",
    "podium_prob",
    "score",
    "actual_rank",
    "is_win",
    "is_podium",
]


def _entry_names(con: duckdb.DuckDBPyConnection, race_id: int) -> pd.DataFrame:
    return con.execute(
        """
        select distinct r.race_id, r.driver_id, ra.season, ra.round, ra.race_name,
            d.full_name as driver_name, c.constructor_name
        from marts.fct_race_results as r
        join marts.dim_races as ra using (race_id)
        join marts.dim_drivers as d using (driver_id)
        join marts.dim_constructors as c using (constructor_id)
        where r.race_id = ?
        """,
        [race_id],
    ).df()
