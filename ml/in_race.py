"""The in-race model: win and podium probabilities during a race from the running order, gaps,
laps remaining, pit stops and the race-outcome model's pre-race prediction.

Trained on historical laps (``marts.fct_lap_times``), evaluated on held-out seasons against two
baselines (the pre-race prediction alone, and the historical win/podium rate of each position at
that stage of a race), with a reliability diagram per probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from . import plots
from .features import build_features, load_inputs
from .in_race_config import InRaceConfig
from .train import TrainConfig, fit

if TYPE_CHECKING:
    import lightgbm as lgb
    from matplotlib.figure import Figure

MODEL_NAME = "p3-in-race"
CHAMPION_ALIAS = "champion"
FEATURES = [
    "position",
    "gap_s",
    "laps_remaining",
    "laps_remaining_frac",
    "pit_count",
    "pre_race_win_prob",
    "pre_race_podium_prob",
]
# Rows are normalised within a group: one race at one lap (the leader's).
GROUP = ["race_id", "lap"]
TARGETS = ["is_win", "is_podium"]
# Gaps beyond five minutes (lapped cars, long stops) carry no more information.
GAP_CAP_S = 300.0
PROGRESS_BUCKETS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]
PROGRESS_LABELS = [
    "laps 0-25pct",
    "laps 25-50pct",
    "laps 50-75pct",
    "laps 75-90pct",
    "laps 90-100pct",
]


# --- features -------------------------------------------------------------------------------


def load_history(con: duckdb.DuckDBPyConnection, *, min_season: int) -> dict[str, pd.DataFrame]:
    """Laps (with race time so far), pit stops and outcomes of every race from ``min_season``."""
    laps = con.execute(
        """
        select race_id, season, round, driver_id, lap, position,
            sum(lap_time_ms) over (partition by race_id, driver_id order by lap) as elapsed_ms
        from marts.fct_lap_times
        where season >= ? and lap_time_ms > 0
        """,
        [min_season],
    ).df()
    stops = con.execute(
        "select race_id, driver_id, lap from marts.fct_pit_stops where season >= ?", [min_season]
    ).df()
    outcomes = con.execute(
        """
        select race_id, driver_id, is_win, is_podium, max(laps) over (partition by race_id) as total_laps
        from marts.fct_race_results
        where season >= ?
        """,
        [min_season],
    ).df()
    return {"laps": laps, "stops": stops, "outcomes": outcomes}


def lap_features(
    history: dict[str, pd.DataFrame], pre_race: pd.DataFrame, *, every_laps: int = 1
) -> pd.DataFrame:
    """One row per driver still running at every ``every_laps``-th lap of each race: FEATURES,
    GROUP, season and TARGETS. The gap is to the race leader at the end of that lap."""
    laps = history["laps"]
    laps = laps[laps["lap"] % every_laps == 0].copy()
    leader = laps.groupby(GROUP)["elapsed_ms"].transform("min")
    laps["gap_s"] = ((laps["elapsed_ms"] - leader) / 1000).clip(0, GAP_CAP_S)
    stops = history["stops"]
    if len(stops):
        stop_laps = stops.merge(
            laps[["race_id", "driver_id", "lap"]],
            on=["race_id", "driver_id"],
            suffixes=("_stop", ""),
        )
        counts = (
            stop_laps[stop_laps["lap_stop"] <= stop_laps["lap"]]
            .groupby(["race_id", "driver_id", "lap"])
            .size()
            .rename("pit_count")
        )
        laps = laps.merge(counts, on=["race_id", "driver_id", "lap"], how="left")
    else:
        laps["pit_count"] = 0
    laps["pit_count"] = laps["pit_count"].fillna(0).astype("float64")
    rows = laps.merge(history["outcomes"], on=["race_id", "driver_id"], how="inner")
    rows = rows[rows["lap"] < rows["total_laps"]]  # at the flag there is nothing left to predict
    rows["laps_remaining"] = (rows["total_laps"] - rows["lap"]).astype("float64")
    rows["laps_remaining_frac"] = rows["laps_remaining"] / rows["total_laps"]
    rows["position"] = rows["position"].astype("float64")
    rows = rows.merge(pre_race, on=["race_id", "driver_id"], how="left")
    rows[TARGETS] = rows[TARGETS].astype("int64")
    # One dtype for the keys whatever the marts use: the logged model's schema enforces it.
    rows[["race_id", "lap", "driver_id"]] = rows[["race_id", "lap", "driver_id"]].astype("int64")
    return rows[["season", "race_id", "lap", "driver_id", *FEATURES, *TARGETS]].reset_index(
        drop=True
    )


def pre_race_predictions(
    con: duckdb.DuckDBPyConnection, *, held_out: list[int], min_season: int, folds: int = 3
) -> pd.DataFrame:
    """Out-of-sample pre-race win and podium probabilities of every entry from ``min_season``.

    The held-out seasons are predicted by a race-outcome model (``ml.train``, default settings)
    fitted on the seasons before them, as a live race is; the training seasons out of fold (each
    fold by a model fitted on the other seasons), so the in-race model learns how far to trust a
    pre-race prediction from predictions as good as the ones it will see.
    """
    features = build_features(load_inputs(con))
    first = min(held_out)
    frames = [
        _predict_pre_race(
            features[features["season"] < first], features[features["season"] >= first]
        )
    ]
    seasons = sorted(s for s in features["season"].unique() if min_season <= s < first)
    for fold in range(min(folds, len(seasons))):
        chosen = set(seasons[fold::folds])
        inside = features["season"].isin(chosen)
        frames.append(
            _predict_pre_race(features[~inside & (features["season"] < first)], features[inside])
        )
    return pd.concat(frames, ignore_index=True)


def _predict_pre_race(train: pd.DataFrame, scope: pd.DataFrame) -> pd.DataFrame:
    predicted = fit(train, TrainConfig()).predict(scope)
    return predicted.rename(
        columns={"win_prob": "pre_race_win_prob", "podium_prob": "pre_race_podium_prob"}
    )[["race_id", "driver_id", "pre_race_win_prob", "pre_race_podium_prob"]]


# --- the model ------------------------------------------------------------------------------


@dataclass
class InRaceModel:
    """Win and podium classifiers over FEATURES, normalised within each race and lap."""

    win: lgb.LGBMClassifier
    podium: lgb.LGBMClassifier
    features: list[str] = field(default_factory=lambda: list(FEATURES))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``win_prob`` (sums to 1 per group) and ``podium_prob`` (sums to at most 3, each at most
        1) for rows with GROUP columns and FEATURES."""
        x = frame[self.features].astype("float64")
        out = frame[GROUP + ["driver_id"]].copy()
        win = np.asarray(self.win.predict_proba(x))[:, 1]
        podium = np.asarray(self.podium.predict_proba(x))[:, 1]
        out["win_prob"] = _normalise(out, win, 1.0)
        out["podium_prob"] = _normalise(out, podium, 3.0)
        return out.reset_index(drop=True)


def _normalise(keys: pd.DataFrame, values: np.ndarray, total: float) -> np.ndarray:
    sums = keys.assign(v=values).groupby(GROUP)["v"].transform("sum").to_numpy()
    count = keys.assign(v=1).groupby(GROUP)["v"].transform("sum").to_numpy()
    target = np.minimum(total, count)
    scaled = np.where(sums > 0, values * target / np.where(sums > 0, sums, 1), target / count)
    return np.clip(scaled, 0.0, 1.0)


def fit_in_race(rows: pd.DataFrame, config: InRaceConfig) -> InRaceModel:
    """Fit both classifiers on ``rows`` (lap_features); ValueError when a class is missing."""
    if rows.empty or rows["is_win"].nunique() < 2 or rows["is_podium"].nunique() < 2:
        raise ValueError("in-race training rows need winners and others, podiums and others")
    import lightgbm as lgb

    x = rows[FEATURES].astype("float64")
    params = config.lgbm_params()
    win = lgb.LGBMClassifier(**params).fit(x, rows["is_win"])
    podium = lgb.LGBMClassifier(**params).fit(x, rows["is_podium"])
    return InRaceModel(win=win, podium=podium)


class InRacePyfunc(PythonModel):
    """The ``InRaceModel`` behind MLflow's pyfunc interface (what the live processor loads)."""

    def __init__(self, model: InRaceModel) -> None:
        self.model = model

    # A DataFrame hint: no schema derived from it (the logged signature is), and no warning.
    def predict(self, context, model_input: pd.DataFrame, params=None):  # noqa: ANN001, ANN201
        """``race_id``, ``lap``, ``driver_id``, ``win_prob``, ``podium_prob`` per input row."""
        return self.model.predict(pd.DataFrame(model_input))


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InRaceEvaluation:
    """Held-out predictions of the model and the baselines, and their scores."""

    seasons: list[int]
    predictions: pd.DataFrame  # predictor, progress, win_prob, podium_prob, is_win, is_podium
    summary: pd.DataFrame  # predictor x metric, overall and per progress bucket

    def metric(self, predictor: str, name: str, bucket: str = "overall") -> float:
        row = self.summary[
            (self.summary["predictor"] == predictor) & (self.summary["progress"] == bucket)
        ]
        return float(row[name].iloc[0])

    def mlflow_metrics(self) -> dict[str, float]:
        return {
            f"{r.predictor}/{r.progress}/{m}": float(getattr(r, m))
            for r in self.summary.itertuples()
            for m in ("win_brier", "win_log_loss", "podium_brier")
        }


def evaluate_in_race(
    rows: pd.DataFrame, held_out: list[int], config: InRaceConfig
) -> tuple[InRaceModel, InRaceEvaluation]:
    """Fit on the seasons before the first held-out one, score the held-out seasons; the model
    fitted on the training seasons and its evaluation."""
    first = min(held_out)
    train = rows[rows["season"] < first]
    test = rows[rows["season"].isin(held_out)]
    if test.empty:
        raise ValueError(f"no laps in the held-out seasons {held_out}")
    model = fit_in_race(train, config)
    predicted = {
        "model": model.predict(test),
        "pre_race": _pre_race_baseline(test),
        "position_rate": _position_rate_baseline(train, test),
    }
    frames = []
    for name, table in predicted.items():
        frames.append(
            test[[*GROUP, "driver_id", "laps_remaining_frac", *TARGETS]]
            .reset_index(drop=True)
            .assign(
                predictor=name,
                win_prob=table["win_prob"].to_numpy(),
                podium_prob=table["podium_prob"].to_numpy(),
            )
        )
    predictions = pd.concat(frames, ignore_index=True)
    predictions["progress"] = progress(predictions).astype(str)
    return model, InRaceEvaluation(sorted(held_out), predictions, _summary(predictions))


def progress(frame: pd.DataFrame) -> pd.Series:
    """How far into the race each row is, as a PROGRESS_LABELS bucket."""
    done = 1 - frame["laps_remaining_frac"]
    return pd.cut(done, PROGRESS_BUCKETS, labels=PROGRESS_LABELS, include_lowest=True)


def _pre_race_baseline(test: pd.DataFrame) -> pd.DataFrame:
    keys = test[GROUP].reset_index(drop=True)
    win = test["pre_race_win_prob"].fillna(0).to_numpy()
    podium = test["pre_race_podium_prob"].fillna(0).to_numpy()
    return pd.DataFrame(
        {"win_prob": _normalise(keys, win, 1.0), "podium_prob": _normalise(keys, podium, 3.0)}
    )


def _position_rate_baseline(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """How often a car in this position, this far into a race, went on to win / reach the podium."""

    def stage(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(
            slot=frame["position"].clip(upper=20),
            stage=progress(frame),
        )

    rates = stage(train).groupby(["slot", "stage"], observed=True)[TARGETS].mean()
    rates.columns = ["is_win_rate", "is_podium_rate"]
    joined = stage(test).join(rates, on=["slot", "stage"])
    keys = test[GROUP].reset_index(drop=True)
    return pd.DataFrame(
        {
            "win_prob": _normalise(keys, joined["is_win_rate"].fillna(0).to_numpy(), 1.0),
            "podium_prob": _normalise(keys, joined["is_podium_rate"].fillna(0).to_numpy(), 3.0),
        }
    )


def _summary(predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for bucket, scope in [("overall", predictions), *predictions.groupby("progress", sort=True)]:
        for name, table in scope.groupby("predictor", sort=False):
            rows.append(
                {
                    "predictor": name,
                    "progress": str(bucket),
                    "rows": len(table),
                    "win_brier": _brier(table["win_prob"], table["is_win"]),
                    "win_log_loss": _log_loss(table["win_prob"], table["is_win"]),
                    "podium_brier": _brier(table["podium_prob"], table["is_podium"]),
                }
            )
    return pd.DataFrame(rows)


def _brier(p: pd.Series, y: pd.Series) -> float:
    return float(np.mean((p.to_numpy() - y.to_numpy()) ** 2))


def _log_loss(p: pd.Series, y: pd.Series) -> float:
    q = np.clip(p.to_numpy(), 1e-6, 1 - 1e-6)
    t = y.to_numpy()
    return float(-np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)))


def calibration_figure(predictions: pd.DataFrame, bins: int = 10) -> Figure:
    """Reliability diagrams of the win and podium probabilities on the held-out seasons."""
    figure = plots.new_figure(11, 5)
    edges = np.linspace(0, 1, bins + 1)
    for index, (prob, outcome, label) in enumerate(
        [("win_prob", "is_win", "win"), ("podium_prob", "is_podium", "podium")], start=1
    ):
        axes = figure.add_subplot(1, 2, index)
        axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
        for name, rows in predictions.groupby("predictor", sort=False):
            binned = rows.assign(bin=pd.cut(rows[prob], edges, include_lowest=True))
            table = binned.groupby("bin", observed=True).agg(
                predicted=(prob, "mean"), observed=(outcome, "mean")
            )
            axes.plot(table["predicted"], table["observed"], marker="o", label=str(name))
        axes.set_xlabel(f"predicted {label} probability")
        axes.set_ylabel(f"observed {label} frequency")
        axes.set_title(f"In-race {label} probability (held-out seasons)")
        axes.legend(loc="upper left")
    return figure
