"""Live win and podium probabilities: the in-race model applied to each published leaderboard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml.in_race import FEATURES, GAP_CAP_S, GROUP

from .state import RaceState

log = logging.getLogger(__name__)

PreRace = dict[int, tuple[float, float]]  # driver_id -> (win, podium) before the start


class Model(Protocol):
    def predict(self, frame: pd.DataFrame) -> Any: ...


def model_frame(board: dict[str, Any], pre_race: PreRace) -> pd.DataFrame:
    """The in-race model's input for the running drivers of a leaderboard (``state.view``),
    with the features defined as in training (``ml.in_race.lap_features``)."""
    total = board["total_laps"] or 0
    remaining = float(max(total - board["lap"], 0))
    rows = []
    for row in board["rows"]:
        if row["retired"]:
            continue
        gap = row["gap_ms"]
        win, podium = pre_race.get(row["driver_id"], (np.nan, np.nan))
        rows.append(
            {
                "race_id": 0,
                "lap": board["lap"],
                "driver_id": row["driver_id"],
                "position": float(row["position"]),
                "gap_s": 0.0 if row["position"] == 1 else _gap_s(gap),
                "laps_remaining": remaining,
                "laps_remaining_frac": remaining / total if total else np.nan,
                "pit_count": float(row["pits"]),
                "pre_race_win_prob": win,
                "pre_race_podium_prob": podium,
            }
        )
    frame = pd.DataFrame(rows, columns=[*GROUP, "driver_id", *FEATURES])
    return frame.astype(
        {"race_id": "int64", "lap": "int64", "driver_id": "int64"}
        | dict.fromkeys(FEATURES, "float64")
    )


def _gap_s(gap_ms: int | None) -> float:
    return np.nan if gap_ms is None else float(min(max(gap_ms / 1000, 0.0), GAP_CAP_S))


@dataclass
class Probabilities:
    """Adds ``win_prob`` and ``podium_prob`` to every row of a leaderboard; retired drivers get
    0, and once the race is finished the probabilities are the result (1 or 0)."""

    model: Model
    pre_race: Callable[[int, int], PreRace]
    _pre_race: dict[tuple[int, int], PreRace] = field(default_factory=dict)

    def __call__(self, state: RaceState, board: dict[str, Any]) -> dict[str, Any]:
        rows = board["rows"]
        if board["status"] == "finished":
            for row in rows:
                row["win_prob"] = float(row["position"] == 1 and not row["retired"])
                row["podium_prob"] = float(row["position"] <= 3 and not row["retired"])
            return board
        key = (state.season, state.round)
        if key not in self._pre_race:
            try:
                self._pre_race[key] = self.pre_race(*key)
            except Exception as exc:  # no champion, no snapshot: the model takes it as missing
                log.warning("no pre-race probabilities for %s round %s: %s", *key, exc)
                self._pre_race[key] = {}
        frame = model_frame(board, self._pre_race[key])
        predicted = (
            pd.DataFrame(self.model.predict(frame)).set_index("driver_id")
            if len(frame)
            else pd.DataFrame(columns=["win_prob", "podium_prob"])
        )
        for row in rows:
            driver = row["driver_id"]
            found = driver in predicted.index
            row["win_prob"] = float(predicted.at[driver, "win_prob"]) if found else 0.0
            row["podium_prob"] = float(predicted.at[driver, "podium_prob"]) if found else 0.0
        return board


def champion_pre_race(snapshot: Path, tracking_uri: str) -> Callable[[int, int], PreRace]:
    """Pre-race probabilities of a race from the registered race-outcome champion, computed on
    the published snapshot's features of that race (empty when the race is not in it)."""

    def pre_race(season: int, round: int) -> PreRace:
        from ml.features import build_features, load_inputs
        from ml.predict import load_champion
        from p3_common.snapshot import open_snapshot

        champion = load_champion(tracking_uri)
        with open_snapshot(snapshot) as con:
            features = build_features(load_inputs(con))
        race = features[(features["season"] == season) & (features["round"] == round)]
        if race.empty:
            log.warning(
                "no pre-race features of %s round %s; pre-race input left empty", season, round
            )
            return {}
        schema = champion.metadata.get_input_schema()
        columns = schema.input_names() if schema is not None else list(race.columns)
        predicted = pd.DataFrame(champion.predict(race[columns]))
        return {
            int(r.driver_id): (float(r.win_prob), float(r.podium_prob))
            for r in predicted.itertuples()
        }

    return pre_race


def load_in_race_model(tracking_uri: str, model_uri: str | None = None) -> Model:
    """The in-race model (default: the `champion` of `p3-in-race`) as an MLflow pyfunc."""
    import mlflow

    from ml.in_race import CHAMPION_ALIAS, MODEL_NAME

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(model_uri or f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}")
