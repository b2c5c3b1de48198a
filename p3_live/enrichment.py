"""What the processor adds to each published leaderboard: lap anomalies, and the in-race model's
win and podium probabilities when it loads."""

from __future__ import annotations

import logging
from pathlib import Path

from p3_common.settings import get_settings

from .config import LiveSettings
from .processor import Enrich, chain


def leaderboard_enrichment(*, with_model: bool) -> Enrich:
    """Lap anomalies always; probabilities when the in-race model and the race-outcome champion
    load from MLflow (else the leaderboard goes out without them, and the log says why)."""
    from .anomalies import LapAnomalies

    steps: list[Enrich] = [LapAnomalies()]
    if with_model:
        from .probabilities import Probabilities, champion_pre_race, load_in_race_model

        settings = get_settings()
        uri = settings.mlflow_tracking_uri or ""
        try:
            model = load_in_race_model(uri, LiveSettings().model_uri)
        except Exception as exc:  # MLflow raises several types for "not registered / unreachable"
            logging.getLogger(__name__).warning(
                "no in-race probabilities: the model did not load (%s); materialise "
                "ml/in_race_model or pass --no-model",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
        else:
            snapshot = settings.serving_duckdb_path or Path()
            steps.append(Probabilities(model, champion_pre_race(snapshot, uri)))
    return chain(*steps)
