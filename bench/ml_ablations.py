"""Race-outcome model: candidate features and training changes measured on the validation seasons.

Each variant is the shipped model (``TrainConfig()`` over FEATURE_COLUMNS) with one change, scored
walk-forward on the validation seasons (default 2018-2022, never the held-out 2023-2024) and
averaged over three seeds, next to the unchanged model. Writes a markdown table:

    python bench/ml_ablations.py --warehouse FILE [--output bench/results/ml_ablations.md]

``--warehouse`` is a warehouse holding the real marts (``bench/ml_eval.py`` builds one; without
the option this script builds its own from ``--ergast-dir``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.evaluate import evaluate
from ml.features import FEATURE_COLUMNS, _prior_rolling, build_features, load_inputs
from ml.train import RaceOutcomeModel, TrainConfig, _rank_within_race, fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ml_eval import DEFAULT_ERGAST_DIR, build_warehouse, parse_seasons  # noqa: E402

SEEDS = (0, 1, 2)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ml_ablations.md"
Trainer = Callable[[pd.DataFrame, TrainConfig], object]


def candidate_features(con: duckdb.DuckDBPyConnection, features: pd.DataFrame) -> pd.DataFrame:
    """``features`` plus the candidate columns, each from earlier races only (or this grid)."""
    extra = (
        con.execute(
            """
            select race_id, driver_id, laps, fastest_lap_time_ms, is_dnf
            from marts.fct_race_results where is_started
            """
        )
        .df()
        .sort_values("fastest_lap_time_ms")
        .drop_duplicates(["race_id", "driver_id"])
    )
    f = features.merge(extra, on=["race_id", "driver_id"], how="left")
    f["is_dnf"] = f["is_dnf"].astype(int)
    f = f.sort_values(["race_seq", "grid_position", "driver_id"]).reset_index(drop=True)

    # Race pace: fastest race lap as % behind the race's fastest (2004 on; the dump has no lap
    # times after 2020), cars that ran at least half the race; per constructor its best car.
    ran = f["laps"] >= 0.5 * f.groupby("race_seq")["laps"].transform("max")
    ok = ran & f["fastest_lap_time_ms"].notna()
    best = f["fastest_lap_time_ms"].where(ok).groupby(f["race_seq"]).transform("min")
    f["pace_gap"] = (100 * (f["fastest_lap_time_ms"] / best - 1)).where(ok).clip(upper=5)
    start = 1 - (f["grid_position"] - 1) / (f["n_starters"] - 1).clip(lower=1)
    f["gain"] = (f["finish_score"] - start).where(f["is_dnf"] == 0)
    teams = (
        f.groupby(["constructor_id", "race_seq"], as_index=False)
        .agg(pace=("pace_gap", "min"), quali=("quali_gap_pct", "min"), gain=("gain", "mean"))
        .sort_values("race_seq")
    )
    teams["constructor_pace_gap_5"] = _prior_rolling(teams, "constructor_id", "pace", 5)
    teams["constructor_quali_gap_5"] = _prior_rolling(teams, "constructor_id", "quali", 5)
    teams["constructor_gain_10"] = _prior_rolling(teams, "constructor_id", "gain", 10)
    keep = ["constructor_pace_gap_5", "constructor_quali_gap_5", "constructor_gain_10"]
    f = f.merge(teams[["constructor_id", "race_seq", *keep]], on=["constructor_id", "race_seq"])
    f = f.sort_values("race_seq", kind="stable")
    f["driver_pace_gap_5"] = _prior_rolling(f, "driver_id", "pace_gap", 5)
    f["driver_gain_20"] = _prior_rolling(f, "driver_id", "gain", 20)
    team_quali = f.groupby(["race_seq", "constructor_id"])["quali_gap_pct"].transform("min")
    f["constructor_quali_trend"] = team_quali - f["constructor_quali_gap_5"]
    f["constructor_race_minus_quali"] = f["constructor_pace_gap_5"] - f["constructor_quali_gap_5"]
    by_team = f.groupby(["race_seq", "constructor_id"])["quali_gap_pct"]
    mate = (by_team.transform("sum") - f["quali_gap_pct"]) / (by_team.transform("count") - 1)
    f["quali_gap_vs_teammate"] = (f["quali_gap_pct"] - mate.replace(np.inf, np.nan)).clip(-3, 3)
    f["grid_minus_quali"] = f["grid_position"] - f["quali_position"]

    # How well the grid predicted the finish at this circuit over its previous 5 races.
    races = (
        f.groupby(["race_seq", "circuit_id"])
        .apply(
            lambda r: r["grid_position"].corr(r["finish_rank"], method="spearman"),
            include_groups=False,
        )
        .rename("grid_corr")
        .reset_index()
        .sort_values("race_seq")
    )
    races["circuit_grid_corr"] = _prior_rolling(races, "circuit_id", "grid_corr", 5)
    f = f.merge(races[["race_seq", "circuit_grid_corr"]], on="race_seq")
    defaults = {
        "constructor_pace_gap_5": 3.0,
        "driver_pace_gap_5": 3.0,
        "constructor_quali_gap_5": 3.0,
        "constructor_quali_trend": 0.0,
        "constructor_race_minus_quali": 0.0,
        "constructor_gain_10": 0.0,
        "driver_gain_20": 0.0,
        "quali_gap_vs_teammate": 0.0,
        "circuit_grid_corr": 0.5,
    }
    f = f.fillna(defaults)
    return f.sort_values(["race_seq", "grid_position", "driver_id"]).reset_index(drop=True)


@dataclass
class ExpectedRank:
    """Order by (1 - P(DNF)) * finishing-order score + P(DNF) * mean score of a retirement."""

    base: RaceOutcomeModel
    finish: lgb.LGBMRegressor
    dnf: lgb.LGBMClassifier
    dnf_score: float

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PREDICTION_COLUMNS with the expected-rank score."""
        out = self.base.predict(frame)
        x = frame[self.base.features]
        p_dnf = self.dnf.predict_proba(x)[:, 1]
        out["score"] = (1 - p_dnf) * self.finish.predict(x) + p_dnf * self.dnf_score
        out["predicted_rank"] = _rank_within_race(out, "score")
        return out


def expected_rank(rows: pd.DataFrame, config: TrainConfig) -> ExpectedRank:
    """Finishing order learnt from finishers only, combined with a P(DNF) classifier."""
    params = config.lgbm_params()
    x = rows[list(config.features)]
    finishers = rows[rows["is_dnf"] == 0]
    rank = finishers.groupby("race_seq")["finish_rank"].rank(method="first")
    count = finishers.groupby("race_seq")["finish_rank"].transform("size")
    score = 1 - (rank - 1) / (count - 1).clip(lower=1)
    return ExpectedRank(
        base=fit(rows, config),
        finish=lgb.LGBMRegressor(**params).fit(finishers[list(config.features)], score),
        dnf=lgb.LGBMClassifier(**params).fit(x, rows["is_dnf"]),
        dnf_score=float(rows.loc[rows["is_dnf"] == 1, "finish_score"].mean()),
    )


def refit(*, monotone: dict[str, int] | None = None, half_life: float | None = None) -> Trainer:
    """The shipped model refitted with monotone constraints or season-recency sample weights."""

    def train(rows: pd.DataFrame, config: TrainConfig) -> RaceOutcomeModel:
        model = fit(rows, config)
        params = config.lgbm_params()
        if monotone:
            params["monotone_constraints"] = [monotone.get(f, 0) for f in config.features]
            params["monotone_constraints_method"] = "advanced"
        weight = None
        if half_life:
            weight = 0.5 ** ((rows["season"].max() - rows["season"]) / half_life)
        x = rows[list(config.features)]
        model.order = lgb.LGBMRegressor(**params).fit(x, rows["finish_score"], sample_weight=weight)
        model.win = lgb.LGBMClassifier(**params).fit(x, rows["is_win"], sample_weight=weight)
        model.podium = lgb.LGBMClassifier(**params).fit(x, rows["is_podium"], sample_weight=weight)
        return model

    return train


def full_order_ranker(objective: str) -> Trainer:
    """A LightGBM ranker over the whole finishing order (relevance = starters behind)."""

    def train(rows: pd.DataFrame, config: TrainConfig) -> RaceOutcomeModel:
        model = fit(rows, config)
        relevance = (rows["n_starters"] - rows["finish_rank"]).astype(int)
        groups = rows.groupby("race_seq", sort=True).size().to_numpy()
        ranker = lgb.LGBMRanker(
            objective=objective,
            label_gain=list(range(64)),
            lambdarank_truncation_level=64,
            **config.lgbm_params(),
        )
        model.order = ranker.fit(rows[list(config.features)], relevance, group=groups)
        return model

    return train


@dataclass
class SeedAverage:
    """Scores and probabilities averaged over models fitted with different seeds."""

    models: list[RaceOutcomeModel]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PREDICTION_COLUMNS from the mean score and probabilities."""
        outs = [m.predict(frame) for m in self.models]
        out = outs[0].copy()
        for column in ("score", "win_prob", "podium_prob"):
            out[column] = np.mean([o[column].to_numpy() for o in outs], axis=0)
        out["predicted_rank"] = _rank_within_race(out, "score")
        return out


def seed_average(rows: pd.DataFrame, config: TrainConfig) -> SeedAverage:
    """Five models differing only in their seed."""
    return SeedAverage([fit(rows, replace(config, seed=config.seed * 10 + k)) for k in range(5)])


GRID_MONOTONE = {"grid_position": -1, "grid_pct": -1, "quali_position": -1, "quali_gap_pct": -1}
BASE = tuple(FEATURE_COLUMNS)


def variants() -> list[tuple[str, TrainConfig, Trainer]]:
    """(name, config, trainer) of every variant; the first is the shipped model."""
    shipped = TrainConfig()
    added = [
        "constructor_pace_gap_5",
        "driver_pace_gap_5",
        "constructor_race_minus_quali",
        "constructor_quali_gap_5",
        "constructor_quali_trend",
        "quali_gap_vs_teammate",
        "driver_gain_20",
        "constructor_gain_10",
        "circuit_grid_corr",
        "grid_minus_quali",
    ]
    out: list[tuple[str, TrainConfig, Trainer]] = [("shipped model", shipped, fit)]
    out += [(f"+ {name}", replace(shipped, features=BASE + (name,)), fit) for name in added]
    out.append(("+ all of the above", replace(shipped, features=BASE + tuple(added)), fit))
    out += [
        (f"min_season {season}", replace(shipped, min_season=season), fit)
        for season in (1990, 2000, 2004, 2008)
    ]
    out += [
        ("recency weights, half-life 8 seasons", shipped, refit(half_life=8)),
        ("recency weights, half-life 4 seasons", shipped, refit(half_life=4)),
        ("monotone in grid and qualifying", shipped, refit(monotone=GRID_MONOTONE)),
        ("expected rank: P(DNF) x finishers' order", shipped, expected_rank),
        ("lambdarank over the full order", shipped, full_order_ranker("lambdarank")),
        ("rank_xendcg over the full order", shipped, full_order_ranker("rank_xendcg")),
        ("average of 5 seeds", shipped, seed_average),
        ("n_estimators 600", replace(shipped, n_estimators=600), fit),
        ("num_leaves 15", replace(shipped, num_leaves=15), fit),
        ("min_child_samples 100", replace(shipped, min_child_samples=100), fit),
    ]
    return out


def measure(
    features: pd.DataFrame, seasons: list[int], config: TrainConfig, train: Trainer
) -> dict[str, float]:
    """Validation figures averaged over SEEDS."""
    rows = []
    for seed in SEEDS:
        ev = evaluate(features, seasons, replace(config, seed=seed), train=train)  # type: ignore[arg-type]
        rows.append(
            {
                "spearman": ev.metric("model", "spearman"),
                "vs grid": ev.metric("model", "spearman") - ev.metric("grid", "spearman"),
                "winner_top1": ev.metric("model", "winner_top1"),
                "podium_brier": ev.metric("model", "podium_brier"),
            }
        )
    return pd.DataFrame(rows).mean().to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ergast-dir", type=Path, default=Path(os.environ.get("P3_ERGAST_DIR", DEFAULT_ERGAST_DIR))
    )
    parser.add_argument("--warehouse", type=Path, help="existing warehouse with the marts")
    parser.add_argument("--validation", default="2018-2022")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = args.warehouse
        if warehouse is None:
            if not (args.ergast_dir / "results.csv").is_file():
                sys.exit(f"real Ergast data not found in {args.ergast_dir}: set P3_ERGAST_DIR")
            warehouse, _ = build_warehouse(args.ergast_dir, Path(tmp))
        with duckdb.connect(str(warehouse), read_only=True) as con:
            features = candidate_features(con, build_features(load_inputs(con)))
    seasons = parse_seasons(args.validation)
    table = []
    for name, config, train in variants():
        figures = measure(features, seasons, config, train)
        table.append({"variant": name, **figures})
        print(f"{name:45s} {figures}", flush=True)
    frame = pd.DataFrame(table)
    shipped = frame.iloc[0]["vs grid"]
    frame["change vs shipped"] = frame["vs grid"] - shipped
    text = "\n".join(
        [
            "# Race-outcome model: changes tried on the validation seasons",
            "",
            f"Generated by `python bench/ml_ablations.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} "
            f"UTC ({platform.node()}, {os.cpu_count()} cores), in "
            f"{time.perf_counter() - started:.0f} s. Walk-forward over {args.validation} "
            f"(train on seasons before S, test on S), each figure the mean over seeds {SEEDS}. "
            "`vs grid` is the model's mean per-race Spearman minus the grid baseline's on the "
            "same races; the held-out seasons 2023-2024 are not used here.",
            "",
            frame.to_markdown(index=False, floatfmt=".4f"),
            "",
        ]
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
