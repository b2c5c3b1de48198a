"""Derived series of an analysis table, computed per entity along the season."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from p3_reports.analyses.config import Filter, Series
from p3_reports.analyses.series import add_series, apply_filters


@pytest.fixture
def table() -> pd.DataFrame:
    # Two teams over three seasons, given out of order: the series must sort along the season.
    return pd.DataFrame(
        {
            "season": [2022, 2020, 2021, 2020, 2021, 2022],
            "entity_id": [1, 1, 1, 2, 2, 2],
            "entity_ref": ["ferrari"] * 3 + ["mercedes"] * 3,
            "points": [30.0, 10.0, 20.0, 40.0, 0.0, 10.0],
        }
    )


def _values(frame: pd.DataFrame, ref: str, column: str) -> list[float]:
    rows = frame[frame["entity_ref"] == ref].sort_values("season")
    return [float(v) for v in rows[column]]


def test_rolling_mean_runs_along_the_season_per_entity(table: pd.DataFrame) -> None:
    out = add_series(table, [Series(name="r", kind="rolling", column="points", window=2)])
    assert _values(out, "ferrari", "r") == [10.0, 15.0, 25.0]
    assert _values(out, "mercedes", "r") == [40.0, 20.0, 5.0]


def test_cumulative_total_restarts_for_each_entity(table: pd.DataFrame) -> None:
    out = add_series(table, [Series(name="c", kind="cumulative", column="points")])
    assert _values(out, "ferrari", "c") == [10.0, 30.0, 60.0]
    assert _values(out, "mercedes", "c") == [40.0, 40.0, 50.0]


def test_rank_is_within_each_season(table: pd.DataFrame) -> None:
    out = add_series(table, [Series(name="k", kind="rank", column="points")])
    assert _values(out, "ferrari", "k") == [2.0, 1.0, 1.0]
    lowest_first = add_series(
        table, [Series(name="k", kind="rank", column="points", ascending=True)]
    )
    assert _values(lowest_first, "ferrari", "k") == [1.0, 2.0, 2.0]


def test_share_divides_by_the_season_total_and_is_null_when_it_is_zero() -> None:
    frame = pd.DataFrame(
        {"season": [2020, 2020, 2021, 2021], "entity_id": [1, 2, 1, 2], "points": [1, 3, 0, 0]}
    )
    out = add_series(frame, [Series(name="s", kind="share", column="points")])
    share = {(r.season, r.entity_id): r.s for r in out.itertuples()}
    assert (share[(2020, 1)], share[(2020, 2)]) == (0.25, 0.75)
    assert math.isnan(share[(2021, 1)]) and math.isnan(share[(2021, 2)])


def test_difference_subtracts_the_baseline_entity_of_the_same_season(table: pd.DataFrame) -> None:
    out = add_series(
        table, [Series(name="d", kind="difference", column="points", baseline="mercedes")]
    )
    assert _values(out, "ferrari", "d") == [-30.0, 20.0, 20.0]
    assert _values(out, "mercedes", "d") == [0.0, 0.0, 0.0]
    missing = add_series(
        table, [Series(name="d", kind="difference", column="points", baseline="mclaren")]
    )
    assert missing["d"].isna().all()


def test_a_series_may_use_an_earlier_one(table: pd.DataFrame) -> None:
    out = add_series(
        table,
        [
            Series(name="c", kind="cumulative", column="points"),
            Series(name="k", kind="rank", column="c"),
        ],
    )
    assert _values(out, "ferrari", "k") == [2.0, 2.0, 1.0]


def test_filters_keep_rows_within_bounds(table: pd.DataFrame) -> None:
    kept = apply_filters(table, [Filter(column="points", min=10, max=30)])
    assert sorted(kept["points"]) == [10.0, 10.0, 20.0, 30.0]
