"""Driver race profiles: season profiles (qualifying vs race, consistency, overtaking, reliability) in clusters."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from .plots import new_figure

# Profile dimensions, each oriented so that its name reads naturally at a high value.
PROFILE_COLUMNS = [
    "quali_strength",  # 1 = always on pole, 0 = always last on the grid
    "race_strength",  # 1 = always wins, 0 = always last
    "race_minus_quali",  # finishes better than starts: racecraft and strategy
    "positions_gained",  # places gained per classified start
    "inconsistency",  # spread of finishing positions (standard deviation of finish share)
    "dnf_rate",
    "mechanical_dnf_rate",
]
# Plain-language reading of a high (+) or low (-) cluster centre on each dimension.
_DESCRIPTIONS = {
    "quali_strength": ("fast in qualifying", "slow in qualifying"),
    "race_strength": ("front-running race results", "back-of-the-field race results"),
    "race_minus_quali": ("finish ahead of their grid slot", "finish behind their grid slot"),
    "positions_gained": ("many places gained", "few places gained"),
    "inconsistency": ("erratic results", "very consistent results"),
    "dnf_rate": ("frequent retirements", "rare retirements"),
    "mechanical_dnf_rate": ("unreliable cars", "reliable cars"),
}


@dataclass(frozen=True)
class DriverProfiles:
    """Per (season, driver) profiles with a cluster, a description per cluster, and a plot."""

    profiles: pd.DataFrame
    clusters: pd.DataFrame
    figure: Figure
    silhouette: float


def load_entries(con: duckdb.DuckDBPyConnection, *, min_season: int = 1950) -> pd.DataFrame:
    """Started race entries with grid, classification, and driver names."""
    return con.execute(
        """
        select r.season, r.race_id, r.driver_id, d.full_name, r.grid, r.position_order,
            r.is_classified, r.is_dnf, r.is_mechanical_dnf, r.positions_gained
        from marts.fct_race_results as r
        join marts.dim_drivers as d using (driver_id)
        where r.is_started and r.season >= ?
        """,
        [min_season],
    ).df()


def season_profiles(entries: pd.DataFrame, *, min_races: int = 5) -> pd.DataFrame:
    """One row per (season, driver) with at least ``min_races`` starts: PROFILE_COLUMNS and counts."""
    frame = entries.copy()
    size = frame.groupby("race_id")["driver_id"].transform("size")
    span = (size - 1).clip(lower=1)
    grid = frame["grid"].where(frame["grid"] > 0, size)
    frame["quali_share"] = 1 - (grid - 1) / span
    frame["finish_share"] = 1 - (frame["position_order"] - 1) / span
    for flag in ("is_dnf", "is_mechanical_dnf", "is_classified"):
        frame[flag] = frame[flag].astype(bool).astype(float)
    grouped = frame.groupby(["season", "driver_id", "full_name"])
    profiles = grouped.agg(
        races=("race_id", "size"),
        quali_strength=("quali_share", "mean"),
        race_strength=("finish_share", "mean"),
        positions_gained=("positions_gained", "mean"),
        inconsistency=("finish_share", "std"),
        dnf_rate=("is_dnf", "mean"),
        mechanical_dnf_rate=("is_mechanical_dnf", "mean"),
    ).reset_index()
    profiles["race_minus_quali"] = profiles["race_strength"] - profiles["quali_strength"]
    profiles["positions_gained"] = profiles["positions_gained"].fillna(0.0)
    profiles = profiles[profiles["races"] >= min_races].dropna(subset=PROFILE_COLUMNS)
    return profiles.reset_index(drop=True)


def cluster_profiles(
    profiles: pd.DataFrame, *, k: int | None = None, k_range: range = range(3, 7), seed: int = 0
) -> DriverProfiles:
    """K-means on standardised PROFILE_COLUMNS; ``k`` fixed, or chosen by silhouette in ``k_range``.

    Each cluster is described by the dimensions where its centre lies furthest from the average
    profile (in standard deviations), so the labels stay readable as the data changes.
    """
    if len(profiles) < max(k or 0, min(k_range)) + 1:
        raise ValueError(f"too few driver seasons to cluster: {len(profiles)}")
    scaled = StandardScaler().fit_transform(profiles[PROFILE_COLUMNS])
    candidates = [k] if k else [c for c in k_range if c < len(profiles)]
    fits = {c: KMeans(n_clusters=c, n_init=10, random_state=seed).fit(scaled) for c in candidates}
    scores = {c: silhouette_score(scaled, fit.labels_) for c, fit in fits.items()}
    best = max(scores, key=lambda c: scores[c])
    labels = _relabel_by_strength(profiles, fits[best].labels_)
    out = profiles.assign(cluster=labels)
    clusters = describe_clusters(out, scaled)
    out = out.merge(clusters[["cluster", "name"]], on="cluster")
    return DriverProfiles(
        profiles=out,
        clusters=clusters,
        figure=profile_figure(out, scaled, clusters),
        silhouette=float(scores[best]),
    )


def _relabel_by_strength(profiles: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    # Cluster 0 is the strongest group by race results, so numbering is stable between runs.
    strength = pd.Series(profiles["race_strength"].to_numpy()).groupby(labels).mean()
    order = {old: new for new, old in enumerate(strength.sort_values(ascending=False).index)}
    return np.array([order[label] for label in labels])


def describe_clusters(profiles: pd.DataFrame, scaled: np.ndarray) -> pd.DataFrame:
    """One row per cluster: size, mean profile, a short name, a sentence and example drivers."""
    z = pd.DataFrame(scaled, columns=PROFILE_COLUMNS).assign(cluster=profiles["cluster"].to_numpy())
    centres = z.groupby("cluster").mean()
    means = profiles.groupby("cluster")[PROFILE_COLUMNS].mean()
    rows = []
    for cluster, centre in centres.iterrows():
        top = centre.abs().sort_values(ascending=False).index[:3]
        phrases = [_DESCRIPTIONS[c][0 if centre[c] > 0 else 1] for c in top]
        members = profiles[profiles["cluster"] == cluster]
        examples = members.sort_values("race_strength", ascending=False).head(3)
        rows.append(
            {
                "cluster": int(cluster),
                "name": f"{phrases[0]}, {phrases[1]}",
                "description": (
                    f"{len(members)} driver seasons: {'; '.join(phrases)} "
                    f"(e.g. {', '.join(f'{r.full_name} {r.season}' for r in examples.itertuples())})."
                ),
                "size": len(members),
                **{c: float(means.loc[cluster, c]) for c in PROFILE_COLUMNS},
            }
        )
    return pd.DataFrame(rows)


def profile_figure(profiles: pd.DataFrame, scaled: np.ndarray, clusters: pd.DataFrame) -> Figure:
    """Left: qualifying vs race strength per driver season; right: the 2-D PCA of all dimensions."""
    figure = new_figure(12, 5)
    left, right = figure.subplots(1, 2)
    projected = PCA(n_components=2, random_state=0).fit_transform(scaled)
    for row in clusters.itertuples():
        members = (profiles["cluster"] == row.cluster).to_numpy()
        label = f"{row.cluster}: {row.name}"
        left.scatter(
            profiles.loc[members, "quali_strength"],
            profiles.loc[members, "race_strength"],
            s=12,
            alpha=0.7,
            label=label,
        )
        right.scatter(projected[members, 0], projected[members, 1], s=12, alpha=0.7, label=label)
    left.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    left.set_xlabel("qualifying strength (1 = pole)")
    left.set_ylabel("race strength (1 = win)")
    left.set_title("Driver seasons: qualifying vs race")
    right.set_xlabel("PC 1")
    right.set_ylabel("PC 2")
    right.set_title("All profile dimensions (PCA)")
    right.legend(loc="best", fontsize=7)
    return figure


def driver_race_profiles(
    con: duckdb.DuckDBPyConnection, *, min_season: int = 1950, k: int | None = None
) -> DriverProfiles:
    """Load entries from the marts, build season profiles and cluster them."""
    return cluster_profiles(season_profiles(load_entries(con, min_season=min_season)), k=k)
