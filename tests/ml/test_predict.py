"""Predictions for an upcoming race: entries from its qualifying (or the previous race), no actuals."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import mlflow.pyfunc
import pandas as pd
import pytest

from ml.features import (
    FEATURE_COLUMNS,
    TARGET_COLUMNS,
    RaceInputs,
    UpcomingRace,
    build_features,
    load_inputs,
    load_upcoming_race,
    upcoming_race_features,
)
from ml.predict import latest_race_predictions, load_champion
from ml.registry import open_run, train_evaluate_register
from ml.train import TrainConfig


@pytest.fixture(scope="module")
def champion(
    tmp_path_factory: pytest.TempPathFactory, demo_features: pd.DataFrame
) -> mlflow.pyfunc.PyFuncModel:
    """A champion trained on the demo seasons, in a throwaway MLflow store."""
    folder = tmp_path_factory.mktemp("mlflow_predict")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with open_run(uri, "p3-tests", artifacts_dir=folder / "artifacts"):
        train_evaluate_register(
            demo_features, TrainConfig(min_season=2020, n_estimators=60), [2024]
        )
    return load_champion(uri)


def _last_race(con: duckdb.DuckDBPyConnection) -> int:
    (race_id,) = con.execute(
        "select race_id from marts.dim_races order by season desc, round desc limit 1"
    ).fetchone()  # type: ignore[misc]
    return int(race_id)


@pytest.fixture
def without_last_results(demo_warehouse: Path, tmp_path: Path) -> Path:
    """A copy of the demo warehouse whose last race has qualifying but no results yet."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from marts.fct_race_results where race_id = ?", [_last_race(con)])
    return warehouse


def test_a_warehouse_where_every_race_has_results_has_no_upcoming_race(
    demo_warehouse: Path,
) -> None:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        assert load_upcoming_race(con) is None


def test_a_race_with_qualifying_but_no_results_is_predicted_for_exactly_its_qualifiers(
    without_last_results: Path, champion: mlflow.pyfunc.PyFuncModel
) -> None:
    with duckdb.connect(str(without_last_results), read_only=True) as con:
        race_id = _last_race(con)
        qualifiers = con.execute(
            "select driver_id, qualifying_position from marts.fct_qualifying where race_id = ?",
            [race_id],
        ).df()
        table = latest_race_predictions(con, champion)

    assert (table["race_id"] == race_id).all()
    assert (table["entry_basis"] == "qualifying").all()
    assert sorted(table["driver_id"]) == sorted(qualifiers["driver_id"])
    assert table[["actual_rank", "is_win", "is_podium"]].isna().all().all()
    needed = ["driver_name", "constructor_name", "predicted_rank", "win_prob", "podium_prob"]
    assert not table[needed].isna().any().any()
    assert table["predicted_rank"].tolist() == list(range(1, len(qualifiers) + 1))
    assert table["win_prob"].sum() == pytest.approx(1)
    grid = table.set_index("driver_id")["grid_position"]
    assert grid.to_dict() == qualifiers.set_index("driver_id")["qualifying_position"].to_dict()


def test_features_of_the_upcoming_race_match_those_of_the_run_race_with_the_qualifying_grid(
    demo_warehouse: Path, without_last_results: Path
) -> None:
    """Built without the race's results, the features equal those built with them: only earlier
    races (and the qualifying) feed them. The run race gets its qualifying order as its grid, as
    the upcoming race does, since grid penalties are not known before the race."""
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        inputs = load_inputs(con)
        race_id = _last_race(con)
    with duckdb.connect(str(without_last_results), read_only=True) as con:
        upcoming = load_upcoming_race(con)
        upcoming_inputs = load_inputs(con)
    assert upcoming is not None and upcoming.race_id == race_id
    assert race_id not in set(upcoming_inputs.results["race_id"])

    quali = inputs.qualifying.set_index(["race_id", "driver_id"])["qualifying_position"]
    results = inputs.results.copy()
    in_race = results["race_id"] == race_id
    keys = pd.MultiIndex.from_frame(results.loc[in_race, ["race_id", "driver_id"]])
    results.loc[in_race, "grid"] = quali.reindex(keys).to_numpy()
    run = build_features(RaceInputs(results=results, qualifying=inputs.qualifying))
    expected = run[run["race_id"] == race_id].set_index("driver_id")[FEATURE_COLUMNS]

    features = upcoming_race_features(upcoming_inputs, upcoming)
    actual = features.set_index("driver_id")[FEATURE_COLUMNS]

    pd.testing.assert_frame_equal(actual.sort_index(), expected.sort_index())
    assert features[TARGET_COLUMNS].isna().all().all()
    # The comparison has teeth: the real result of that race is not the grid order.
    finished = run[run["race_id"] == race_id]
    assert not (finished["finish_rank"] == finished["grid_position"]).all()


def test_without_qualifying_the_previous_race_starters_line_up_in_recent_grid_order(
    without_last_results: Path, champion: mlflow.pyfunc.PyFuncModel
) -> None:
    with duckdb.connect(str(without_last_results)) as con:
        race_id = _last_race(con)
        con.execute("delete from marts.fct_qualifying where race_id = ?", [race_id])
        previous = con.execute(
            """
            select driver_id from marts.fct_race_results
            where is_started and race_id = (
                select race_id from marts.fct_race_results
                order by season desc, round desc limit 1
            )
            """
        ).df()
        upcoming = load_upcoming_race(con)
        inputs = load_inputs(con)
        table = latest_race_predictions(con, champion)
    assert isinstance(upcoming, UpcomingRace) and upcoming.basis == "previous_race"

    features = upcoming_race_features(inputs, upcoming).sort_values("grid_position")
    assert features["driver_grid_5"].is_monotonic_increasing
    assert features["grid_position"].tolist() == list(range(1, len(previous) + 1))
    assert not features[FEATURE_COLUMNS].isna().any().any()
    assert (table["race_id"] == race_id).all()
    assert (table["entry_basis"] == "previous_race").all()
    assert sorted(table["driver_id"]) == sorted(previous["driver_id"])
    assert table["actual_rank"].isna().all()


def test_without_an_upcoming_race_the_latest_race_is_predicted_beside_its_result(
    demo_warehouse: Path, champion: mlflow.pyfunc.PyFuncModel
) -> None:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        race_id = _last_race(con)
        table = latest_race_predictions(con, champion)

    assert (table["race_id"] == race_id).all()
    assert (table["entry_basis"] == "results").all()
    assert sorted(table["actual_rank"].tolist()) == list(range(1, len(table) + 1))
    assert int(table["is_win"].sum()) == 1
