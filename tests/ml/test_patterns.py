"""Driver race profiles on the demo marts: every driver season gets a described cluster and a plot."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ml.patterns import PROFILE_COLUMNS, driver_race_profiles
from ml.plots import png_bytes


def test_driver_seasons_are_clustered_into_described_groups(demo_warehouse: Path) -> None:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        result = driver_race_profiles(con)

    profiles, clusters = result.profiles, result.clusters
    assert len(profiles) == 100  # 20 drivers x 5 demo seasons, all with 12 starts
    assert not profiles[PROFILE_COLUMNS + ["cluster", "name"]].isna().any().any()
    assert 3 <= len(clusters) <= 6
    assert clusters["size"].sum() == len(profiles)
    assert clusters["description"].str.contains("driver seasons").all()
    # Cluster 0 is, by construction, the strongest group by race results.
    assert clusters.loc[0, "race_strength"] == clusters["race_strength"].max()
    assert -1 <= result.silhouette <= 1
    assert png_bytes(result.figure).startswith(b"\x89PNG")


def test_profiles_are_deterministic(demo_warehouse: Path) -> None:
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        first, second = driver_race_profiles(con), driver_race_profiles(con)

    assert first.profiles["cluster"].tolist() == second.profiles["cluster"].tolist()
    assert first.clusters["name"].tolist() == second.clusters["name"].tolist()
