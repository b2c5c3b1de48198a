"""Race-outcome model: a finishing-order score plus win and podium probabilities (LightGBM).

Why LightGBM rather than scikit-learn's HistGradientBoosting: both are histogram GBMs of similar
accuracy on a table this size (~10k entries), but LightGBM also offers a lambdarank objective with
per-race query groups (tried in the evaluation, see ``TrainConfig.objective``), deterministic
training with ``deterministic=True``, and split-gain importances for the feature-importance plot.
It is already a pinned dependency of the ``ml`` extra, so it costs nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .features import FEATURE_COLUMNS

if TYPE_CHECKING:
    # Imported where models are fitted: lightgbm pulls in scikit-learn, and the Dagster code
    # location imports this module only for TrainConfig.
    import lightgbm as lgb

PREDICTION_COLUMNS = ["race_id", "driver_id", "score", "predicted_rank", "win_prob", "podium_prob"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and data window of one training run (logged as MLflow params)."""

    min_season: int = 1996
    objective: Literal["regression", "lambdarank"] = "regression"
    n_estimators: int = 300
    learning_rate: float = 0.03
    num_leaves: int = 7
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    seed: int = 0
    features: tuple[str, ...] = field(default_factory=lambda: tuple(FEATURE_COLUMNS))

    def params(self) -> dict[str, Any]:
        """Flat parameters for logging (the feature list as a count plus a comma-joined string)."""
        values = asdict(self)
        features = values.pop("features")
        return values | {"n_features": len(features), "features": ",".join(features)}

    def lgbm_params(self) -> dict[str, Any]:
        """Keyword arguments shared by the three LightGBM estimators."""
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "random_state": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            # One thread: the tables are small, and OpenMP threads spinning on a shared 2-core
            # machine made a fit 20-30x slower under load (measured: 0.5 s vs 11-16 s).
            "n_jobs": 1,
            "verbose": -1,
        }


@dataclass
class RaceOutcomeModel:
    """Three boosted models over the same features: order score, win and podium classifiers."""

    features: list[str]
    order: lgb.LGBMModel
    win: lgb.LGBMClassifier
    podium: lgb.LGBMClassifier

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PREDICTION_COLUMNS for each row of ``frame`` (needs ``race_id``, ``driver_id`` and features).

        ``score`` is higher for a better expected finish; ``predicted_rank`` orders each race by
        it. Win probabilities are normalised to sum to 1 within a race; podium probabilities are
        the classifier's, which are already close to summing to 3 (renormalising them made the
        Brier score worse in the evaluation).
        """
        x = frame[self.features]
        out = frame[["race_id", "driver_id"]].copy()
        out["score"] = self.order.predict(x)
        out["predicted_rank"] = _rank_within_race(out, "score")
        win = np.asarray(self.win.predict_proba(x))[:, 1]
        out["win_prob"] = win / out.assign(w=win).groupby("race_id")["w"].transform("sum")
        out["podium_prob"] = np.asarray(self.podium.predict_proba(x))[:, 1]
        return out[PREDICTION_COLUMNS]

    def feature_importance(self) -> pd.DataFrame:
        """Split-gain importance of each feature in the three models, normalised to sum to 1 each."""
        table = {}
        for name, model in (("order", self.order), ("win", self.win), ("podium", self.podium)):
            gain = model.booster_.feature_importance(importance_type="gain")
            table[name] = gain / gain.sum() if gain.sum() > 0 else gain
        return pd.DataFrame(table, index=self.features).sort_values("order", ascending=False)


def _rank_within_race(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby("race_id")[column].rank(ascending=False, method="first").astype("int64")


def training_rows(features: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The rows a model is trained on: seasons from ``config.min_season``, in race order."""
    rows = features[features["season"] >= config.min_season]
    return rows.sort_values(["race_seq", "driver_id"]).reset_index(drop=True)


def fit(features: pd.DataFrame, config: TrainConfig) -> RaceOutcomeModel:
    """Fit the three models on every row of ``features`` from ``config.min_season`` on.

    Raises ValueError when there is nothing to learn from (no rows, or no winners/podiums).
    """
    rows = training_rows(features, config)
    if rows.empty:
        raise ValueError(f"no training rows from season {config.min_season}")
    if rows["is_win"].nunique() < 2 or rows["is_podium"].nunique() < 2:
        raise ValueError("training rows need both winners and non-winners, podiums and others")
    import lightgbm as lgb

    x = rows[list(config.features)]
    params = config.lgbm_params()
    order = _fit_order(rows, x, config, params)
    win = lgb.LGBMClassifier(**params).fit(x, rows["is_win"])
    podium = lgb.LGBMClassifier(**params).fit(x, rows["is_podium"])
    return RaceOutcomeModel(features=list(config.features), order=order, win=win, podium=podium)


def _fit_order(
    rows: pd.DataFrame, x: pd.DataFrame, config: TrainConfig, params: dict[str, Any]
) -> lgb.LGBMModel:
    import lightgbm as lgb

    if config.objective == "regression":
        return lgb.LGBMRegressor(**params).fit(x, rows["finish_score"])
    # lambdarank: graded relevance, the podium and points places matter most; rows are grouped
    # by race (they are sorted by race_seq, so group sizes follow in order).
    relevance = np.clip(11 - rows["finish_rank"], 0, None).astype(int)
    groups = rows.groupby("race_seq", sort=True).size().to_numpy()
    ranker = lgb.LGBMRanker(**params)
    return ranker.fit(x, relevance, group=groups)
