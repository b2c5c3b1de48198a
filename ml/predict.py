"""Predictions from the registered champion: the MLflow pyfunc wrapper and latest-race predictions."""

from __future__ import annotations

import duckdb
import mlflow
import pandas as pd
from mlflow.pyfunc import PyFuncModel, PythonModel, load_model

from .features import build_features, load_inputs, load_upcoming_race, upcoming_race_features
from .train import RaceOutcomeModel

MODEL_NAME = "p3-race-outcome"
CHAMPION_ALIAS = "champion"
# Input columns besides the features: predictions are normalised within each race.
ID_COLUMNS = ["race_id", "driver_id"]


class RaceOutcomePyfunc(PythonModel):
    """The trained ``RaceOutcomeModel`` behind MLflow's generic pyfunc interface."""

    def __init__(self, model: RaceOutcomeModel) -> None:
        self.model = model

    # model_input: pd.DataFrame is a hint MLflow 3 derives no schema from (and does not warn
    # about): the signature logged with the model is what it validates against.
    def predict(self, context, model_input: pd.DataFrame, params=None):  # noqa: ANN001, ANN201
        """PREDICTION_COLUMNS for rows with ``race_id``, ``driver_id`` and every feature."""
        return self.model.predict(pd.DataFrame(model_input))


def champion_uri(name: str = MODEL_NAME) -> str:
    """The models:/ URI of the version the ``champion`` alias points at."""
    return f"models:/{name}@{CHAMPION_ALIAS}"


def load_champion(tracking_uri: str, name: str = MODEL_NAME) -> PyFuncModel:
    """Load the champion version from the registry at ``tracking_uri``."""
    mlflow.set_tracking_uri(tracking_uri)
    return load_model(champion_uri(name))


def model_input(features: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """The columns a logged model takes, in its order."""
    return features[ID_COLUMNS + feature_names].reset_index(drop=True)


def latest_race_predictions(con: duckdb.DuckDBPyConnection, model: PyFuncModel) -> pd.DataFrame:
    """Predicted order and win/podium probabilities for the next race, or else the latest one.

    The next race is the first dated race in marts.dim_races after the last race with results
    (``load_upcoming_race``): its entries come from its qualifying, or from the previous race's
    starters when qualifying is not in the marts yet (``entry_basis`` says which), and the
    actual columns are null. When every race has results, the latest race is predicted with the
    actual finishing rank beside the prediction. One row per entry, best predicted first.
    """
    inputs = load_inputs(con)
    upcoming = load_upcoming_race(con)
    if upcoming is not None:
        race = upcoming_race_features(inputs, upcoming)
        basis: str = upcoming.basis
    else:
        features = build_features(inputs)
        race = features[features["race_seq"] == features["race_seq"].max()]
        basis = "results"
    schema = model.metadata.get_input_schema()
    columns = schema.input_names() if schema is not None else list(race.columns)
    predicted = pd.DataFrame(model.predict(race[columns]))
    names = _entry_names(con, race[["race_id", "driver_id", "constructor_id"]])
    actual = race[["race_id", "driver_id", "grid_position", "finish_rank", "is_win", "is_podium"]]
    table = predicted.merge(actual, on=ID_COLUMNS).merge(names, on=ID_COLUMNS, how="left")
    table = table.rename(columns={"finish_rank": "actual_rank"})
    table["actual_rank"] = table["actual_rank"].astype("Int64")
    table["is_win"] = table["is_win"].astype("Int64").astype("boolean")
    table["is_podium"] = table["is_podium"].astype("Int64").astype("boolean")
    table["grid_position"] = table["grid_position"].astype("int64")
    table["entry_basis"] = basis
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
    "entry_basis",
]


def _entry_names(con: duckdb.DuckDBPyConnection, entries: pd.DataFrame) -> pd.DataFrame:
    """Race, driver and constructor names of ``entries`` (race_id, driver_id, constructor_id)."""
    con.register("_p3_entries", entries)
    try:
        return con.execute(
            """
            select e.race_id, e.driver_id, ra.season, ra.round, ra.race_name,
                d.full_name as driver_name, c.constructor_name
            from _p3_entries as e
            join marts.dim_races as ra using (race_id)
            left join marts.dim_drivers as d using (driver_id)
            left join marts.dim_constructors as c using (constructor_id)
            """
        ).df()
    finally:
        con.unregister("_p3_entries")
