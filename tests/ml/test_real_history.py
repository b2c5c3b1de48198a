"""Features and upcoming-race entries on the real 1950-2024 history (skipped without P3_ERGAST_DIR)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.features import (
    FEATURE_COLUMNS,
    RaceInputs,
    build_features,
    load_inputs,
    load_upcoming_race,
    upcoming_race_features,
)
from tests.ml.test_features import _features_up_to, _scramble_from


@pytest.fixture(scope="module")
def real_inputs(real_warehouse: Path) -> RaceInputs:
    with duckdb.connect(str(real_warehouse), read_only=True) as con:
        return load_inputs(con, min_season=2010)


def test_real_features_cover_every_starter_without_nulls(real_inputs: RaceInputs) -> None:
    features = build_features(real_inputs)

    starters = real_inputs.results[real_inputs.results["is_started"]]
    assert len(features) == len(starters.drop_duplicates(["race_id", "driver_id"]))
    assert not features[FEATURE_COLUMNS].isna().any().any()
    assert features.groupby("race_id")["is_win"].sum().eq(1).all()


def test_changing_a_real_2023_race_or_later_leaves_its_features_unchanged(
    real_inputs: RaceInputs,
) -> None:
    pd.testing.assert_frame_equal(
        _features_up_to(build_features(real_inputs), 2023, 10),
        _features_up_to(build_features(_scramble_from(real_inputs, 2023, 10)), 2023, 10),
    )


def test_the_2024_finale_without_results_is_an_upcoming_race_of_its_qualifiers(
    real_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(real_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        (race_id,) = con.execute(
            "select race_id from marts.dim_races where season = 2024 order by round desc limit 1"
        ).fetchone()  # type: ignore[misc]
        con.execute("delete from marts.fct_race_results where race_id = ?", [race_id])
        qualifiers = con.execute(
            "select driver_id from marts.fct_qualifying where race_id = ?", [race_id]
        ).df()
        upcoming = load_upcoming_race(con)
        inputs = load_inputs(con, min_season=2010)
    assert upcoming is not None and upcoming.race_id == race_id
    assert upcoming.basis == "qualifying"

    features = upcoming_race_features(inputs, upcoming)

    assert sorted(features["driver_id"]) == sorted(qualifiers["driver_id"])
    assert not features[FEATURE_COLUMNS].isna().any().any()
    assert features["finish_rank"].isna().all()
