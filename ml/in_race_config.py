"""The in-race model's run settings, apart from ``ml.in_race`` so that reading the defaults (the
Dagster definitions do) does not import MLflow, LightGBM and matplotlib."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class InRaceConfig:
    """Data window and hyper-parameters of one training run (logged as MLflow params)."""

    min_season: int = 2006
    every_laps: int = 3
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 100
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def lgbm_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "n_jobs": 1,  # see ml.train: OpenMP threads on a shared 2-core machine are slower
            "verbose": -1,
        }
