"""Season-by-season evaluation of the race-outcome model against the grid and constructor-form baselines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .train import PREDICTION_COLUMNS, RaceOutcomeModel, TrainConfig, fit, training_rows

PREDICTORS = ("model", "grid", "constructor_form")
METRICS = ("spearman", "winner_top1", "podium_precision", "podium_brier", "ndcg_at_3")
# Higher is better for every metric but the Brier score.
LOWER_IS_BETTER = frozenset({"podium_brier"})
# NDCG@3 relevance of the actual podium: P1 3, P2 2, P3 1, everyone else 0; gain 2^rel - 1.
_PODIUM_RELEVANCE = {1: 3, 2: 2, 3: 1}
_IDEAL_DCG3 = sum((2**rel - 1) / np.log2(i + 2) for i, rel in enumerate((3, 2, 1)))


class Predictor(Protocol):
    """Anything that turns feature rows into PREDICTION_COLUMNS."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass
class SlotBaseline:
    """Order each race by a pre-race key; probabilities are training frequencies per slot.

    ``key`` gives a score per row (higher = expected ahead); the slot is the row's rank within its
    race, and P(win | slot), P(podium | slot) come from the training seasons, Laplace-smoothed.
    """

    key: Callable[[pd.DataFrame], pd.Series]
    win_rate: dict[int, float]
    podium_rate: dict[int, float]

    @classmethod
    def fit(cls, key: Callable[[pd.DataFrame], pd.Series], train: pd.DataFrame) -> SlotBaseline:
        """Learn the per-slot win and podium frequencies of ``key``'s order on ``train``."""
        slots = _slots(train, key(train))
        rates = (
            train.assign(slot=slots).groupby("slot")[["is_win", "is_podium"]].agg(["sum", "size"])
        )
        win = (rates[("is_win", "sum")] + 0.5) / (rates[("is_win", "size")] + 1)
        podium = (rates[("is_podium", "sum")] + 0.5) / (rates[("is_podium", "size")] + 1)
        return cls(key=key, win_rate=win.to_dict(), podium_rate=podium.to_dict())

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PREDICTION_COLUMNS for ``frame``; slots unseen in training get the last slot's rates."""
        out = frame[["race_id", "driver_id"]].copy()
        out["score"] = self.key(frame).to_numpy()
        out["predicted_rank"] = _slots(frame, out["score"])
        last = max(self.win_rate)
        slot = out["predicted_rank"].clip(upper=last)
        win = slot.map(self.win_rate).fillna(self.win_rate[last])
        out["win_prob"] = win / win.groupby(out["race_id"]).transform("sum")
        out["podium_prob"] = slot.map(self.podium_rate).fillna(self.podium_rate[last])
        return out[PREDICTION_COLUMNS]


def _slots(frame: pd.DataFrame, score: pd.Series) -> pd.Series:
    ranked = pd.DataFrame({"race_id": frame["race_id"].to_numpy(), "score": score.to_numpy()})
    ranks = ranked.groupby("race_id")["score"].rank(ascending=False, method="first")
    return pd.Series(ranks.astype("int64").to_numpy(), index=frame.index)


def grid_key(frame: pd.DataFrame) -> pd.Series:
    """Grid order (pit-lane starters last); qualifying breaks ties between pit-lane starters."""
    return -(frame["grid_position"] + frame["quali_position"] / 1000)


def constructor_form_key(frame: pd.DataFrame) -> pd.Series:
    """The constructor's points per car over its last 5 races; the grid orders teammates."""
    return frame["constructor_points_5"] - frame["grid_position"] / 1000


@dataclass
class Evaluation:
    """Per-race metrics, the per-season/overall summary and every held-out prediction."""

    per_race: pd.DataFrame
    summary: pd.DataFrame
    predictions: pd.DataFrame

    @property
    def seasons(self) -> list[int]:
        """The held-out seasons."""
        return sorted(int(s) for s in self.per_race["season"].unique())

    def metric(self, predictor: str, metric: str, season: int | str = "overall") -> float:
        """One figure of the summary table."""
        row = self.summary[
            (self.summary["season"] == str(season)) & (self.summary["predictor"] == predictor)
        ]
        return float(row[metric].iloc[0])

    def mlflow_metrics(self) -> dict[str, float]:
        """Flat metric names for MLflow: ``<predictor>/<season|overall>/<metric>``."""
        return {
            f"{row.predictor}/{row.season}/{metric}": float(getattr(row, metric))
            for row in self.summary.itertuples()
            for metric in METRICS
        }

    def to_markdown(self) -> str:
        """The summary as a markdown table, seasons in order and the overall rows last."""
        table = self.summary[["season", "predictor", "races", *METRICS]]
        return table.to_markdown(index=False, floatfmt=".3f")


def evaluate(
    features: pd.DataFrame,
    seasons: Sequence[int],
    config: TrainConfig,
    *,
    train: Callable[[pd.DataFrame, TrainConfig], RaceOutcomeModel] = fit,
) -> Evaluation:
    """Walk forward over ``seasons``: for each S, fit on seasons before S and test on S.

    The model and both baselines are fitted on exactly the same training rows and scored on the
    same races. Errors in training propagate; nothing is replaced by a default score.
    """
    if not seasons:
        raise ValueError("name at least one season to hold out")
    per_race, predictions = [], []
    for season in sorted(seasons):
        train_rows = training_rows(features[features["season"] < season], config)
        test_rows = features[features["season"] == season]
        if test_rows.empty:
            raise ValueError(f"season {season} has no races to test on")
        predictors: dict[str, Predictor] = {
            "model": train(train_rows, config),
            "grid": SlotBaseline.fit(grid_key, train_rows),
            "constructor_form": SlotBaseline.fit(constructor_form_key, train_rows),
        }
        for name, predictor in predictors.items():
            scored = _with_outcomes(predictor.predict(test_rows), test_rows)
            scored["predictor"] = name
            predictions.append(scored)
            per_race.append(race_metrics(scored).assign(predictor=name))
    races = pd.concat(per_race, ignore_index=True)
    return Evaluation(
        per_race=races,
        summary=summarise(races),
        predictions=pd.concat(predictions, ignore_index=True),
    )


def _with_outcomes(predicted: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    outcomes = rows[["race_id", "driver_id", "season", "finish_rank", "is_win", "is_podium"]]
    return predicted.merge(outcomes, on=["race_id", "driver_id"], validate="one_to_one")


def race_metrics(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per race: Spearman of predicted vs actual order, top-1, podium precision, NDCG@3,
    and the Brier sum and count of the podium probabilities (pooled over entries later)."""
    rows = []
    for (season, race_id), race in scored.groupby(["season", "race_id"], sort=True):
        order = race.sort_values("predicted_rank")
        top3 = order.head(3)
        gains = top3["finish_rank"].map(_PODIUM_RELEVANCE).fillna(0).to_numpy()
        dcg = sum((2**rel - 1) / np.log2(i + 2) for i, rel in enumerate(gains))
        rows.append(
            {
                "season": int(season),
                "race_id": race_id,
                "spearman": spearmanr(race["predicted_rank"], race["finish_rank"]).statistic,
                "winner_top1": float(order["is_win"].iloc[0]),
                "podium_precision": float(top3["is_podium"].sum()) / 3,
                "ndcg_at_3": dcg / _IDEAL_DCG3,
                "brier_sum": float(((race["podium_prob"] - race["is_podium"]) ** 2).sum()),
                "entries": len(race),
            }
        )
    return pd.DataFrame(rows)


def summarise(per_race: pd.DataFrame) -> pd.DataFrame:
    """Per season and overall: means over races, and the Brier score pooled over entries."""

    def block(frame: pd.DataFrame, season: str) -> pd.DataFrame:
        grouped = frame.groupby("predictor", sort=False)
        out = grouped[["spearman", "winner_top1", "podium_precision", "ndcg_at_3"]].mean()
        out["podium_brier"] = grouped["brier_sum"].sum() / grouped["entries"].sum()
        out["races"] = grouped.size()
        return out.reset_index().assign(season=season)

    blocks = [block(frame, str(season)) for season, frame in per_race.groupby("season")]
    blocks.append(block(per_race, "overall"))
    summary = pd.concat(blocks, ignore_index=True)
    order = {name: i for i, name in enumerate(PREDICTORS)}
    summary["_order"] = summary["predictor"].map(order)
    summary = summary.sort_values(["season", "_order"], key=_season_sort_key, kind="stable")
    return summary.drop(columns="_order")[["season", "predictor", "races", *METRICS]].reset_index(
        drop=True
    )


def _season_sort_key(column: pd.Series) -> pd.Series:
    # "overall" sorts after every season.
    if column.name == "season":
        return column.map(lambda s: 10_000 if s == "overall" else int(s))
    return column
