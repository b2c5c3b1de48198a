"""Retraining cadence: the model is trained monthly or on demand, never on every new race."""

from __future__ import annotations

import dagster as dg

from ..run_queue import TRAINING_TAGS
from .assets import MODEL_KEY, PREDICTIONS_KEY

train_models_job = dg.define_asset_job(
    "train_models_job",
    selection=dg.AssetSelection.assets(MODEL_KEY, PREDICTIONS_KEY),
    description=(
        "Train, evaluate and register the race-outcome model, then predict the latest race with "
        "whichever version is champion afterwards."
    ),
    # Every run of it (schedule, UI, backfill) carries the workload tag deploy/dagster.yaml limits
    # to one run at a time.
    tags=TRAINING_TAGS,
)

train_models_monthly_schedule = dg.ScheduleDefinition(
    name="train_models_monthly_schedule",
    job=train_models_job,
    cron_schedule="0 4 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrain the race-outcome model at 04:00 UTC on the first day of each month.",
)
