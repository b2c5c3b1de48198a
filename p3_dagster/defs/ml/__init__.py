"""ML domain: race-outcome model (MLflow), latest-race predictions, anomalies and driver profiles."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from .assets import MARTS_READ, build_assets
from .publish import ml_snapshot
from .schedules import train_models_job, train_models_monthly_schedule

__all__ = ["build_defs"]


def build_defs(marts: Sequence[dg.AssetKey]) -> dg.Definitions:
    """The ML assets downstream of the marts they read, their published snapshot, the training job
    and its monthly schedule.

    ``marts`` are the dbt mart keys (``marts/<table>``); every table an asset reads must be among
    them. Resources come from ``defs/resources.py`` (``duckdb`` and ``mlflow``).
    """
    by_table = {key.path[-1]: key for key in marts}
    missing = sorted({t for tables in MARTS_READ.values() for t in tables} - set(by_table))
    if missing:
        raise ValueError(f"ML assets read marts that are not in the graph: {missing}")
    deps = {asset: [by_table[t] for t in tables] for asset, tables in MARTS_READ.items()}
    return dg.Definitions(
        assets=[*build_assets(deps), ml_snapshot],
        jobs=[train_models_job],
        schedules=[train_models_monthly_schedule],
    )
