"""Features as of a race: no leakage from the race itself or later races, and no nulls."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.features import (
    FEATURE_COLUMNS,
    OUTCOME_COLUMNS,
    RaceInputs,
    build_features,
    load_inputs,
)


@pytest.fixture(scope="module")
def inputs(demo_warehouse: Path) -> RaceInputs:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        return load_inputs(con)


def _race_order(results: pd.DataFrame) -> list[tuple[int, int]]:
    return sorted(set(zip(results["season"], results["round"], strict=True)))


def _scramble_from(inputs: RaceInputs, season: int, round_: int) -> RaceInputs:
    """Change every outcome of (season, round) and everything about every later race."""
    rng = np.random.default_rng(7)
    results = inputs.results.copy()
    key = results["season"] * 100 + results["round"]
    this_race = key == season * 100 + round_
    later = key > season * 100 + round_
    affected = this_race | later
    n = int(affected.sum())
    results.loc[affected, "position_order"] = rng.permutation(
        results.loc[affected, "position_order"]
    )
    results.loc[affected, "finish_position"] = results.loc[affected, "position_order"]
    results.loc[affected, "points"] = rng.uniform(0, 26, n)
    results.loc[affected, "status_category"] = rng.choice(["finished", "mechanical", "accident"], n)
    for flag in ("is_classified", "is_dnf", "is_mechanical_dnf", "is_win", "is_podium"):
        results.loc[affected, flag] = rng.random(n) < 0.5
    results.loc[affected, "positions_gained"] = rng.integers(-10, 10, n)
    # Later races: the grid and who started change too (they are pre-race facts of those races only).
    results.loc[later, "grid"] = rng.permutation(results.loc[later, "grid"])
    results.loc[later, "is_started"] = rng.random(int(later.sum())) < 0.9
    qualifying = inputs.qualifying.merge(
        inputs.results[["race_id", "season", "round"]].drop_duplicates(), on="race_id"
    )
    q_later = (qualifying["season"] * 100 + qualifying["round"]) > season * 100 + round_
    qualifying.loc[q_later, "gap_to_pole_pct"] = rng.uniform(0, 3, int(q_later.sum()))
    qualifying.loc[q_later, "qualifying_position"] = rng.permutation(
        qualifying.loc[q_later, "qualifying_position"]
    )
    return RaceInputs(results=results, qualifying=qualifying[inputs.qualifying.columns])


def _features_up_to(features: pd.DataFrame, season: int, round_: int) -> pd.DataFrame:
    upto = features[features["season"] * 100 + features["round"] <= season * 100 + round_]
    return upto.sort_values(["race_id", "driver_id"]).set_index(["race_id", "driver_id"])[
        FEATURE_COLUMNS
    ]


@pytest.mark.parametrize("position", [0.3, 0.55, 0.9])
def test_changing_race_r_or_later_leaves_features_of_races_up_to_r_unchanged(
    inputs: RaceInputs, position: float
) -> None:
    races = _race_order(inputs.results)
    season, round_ = races[int(position * len(races))]
    assert set(OUTCOME_COLUMNS) <= set(inputs.results.columns)

    original = _features_up_to(build_features(inputs), season, round_)
    scrambled = _features_up_to(
        build_features(_scramble_from(inputs, season, round_)), season, round_
    )

    pd.testing.assert_frame_equal(original, scrambled)
    # The scramble really changes what the model learns from, so the test has teeth.
    assert not build_features(inputs)[["finish_rank"]].equals(
        build_features(_scramble_from(inputs, season, round_))[["finish_rank"]]
    )


def test_features_of_a_race_do_not_depend_on_later_races_existing(inputs: RaceInputs) -> None:
    races = _race_order(inputs.results)
    season, round_ = races[len(races) // 2]
    keep = inputs.results["season"] * 100 + inputs.results["round"] <= season * 100 + round_
    truncated = RaceInputs(results=inputs.results[keep], qualifying=inputs.qualifying)

    pd.testing.assert_frame_equal(
        _features_up_to(build_features(inputs), season, round_),
        _features_up_to(build_features(truncated), season, round_),
    )


def test_features_have_one_row_per_starter_and_no_nulls(
    inputs: RaceInputs, demo_features: pd.DataFrame
) -> None:
    starters = inputs.results[inputs.results["is_started"]]
    assert len(demo_features) == len(starters.drop_duplicates(["race_id", "driver_id"]))
    assert not demo_features[FEATURE_COLUMNS].isna().any().any()
    assert demo_features.groupby("race_id")["is_win"].sum().eq(1).all()
    assert demo_features.groupby("race_id")["is_podium"].sum().eq(3).all()


def test_first_race_of_a_driver_has_no_history_but_default_form(
    demo_features: pd.DataFrame,
) -> None:
    first_race = demo_features[demo_features["race_seq"] == 0]
    assert (first_race["driver_history_races"] == 0).all()
    assert (first_race["driver_points_5"] == 0.0).all()
    assert (first_race["grid_position"] >= 1).all()
