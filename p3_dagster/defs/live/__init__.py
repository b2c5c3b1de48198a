"""Live domain: the in-race model (MLflow) and the race-finished -> ingestion sensor."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from p3_common.settings import Settings
from p3_live.config import LiveSettings

from .assets import MARTS_READ, build_in_race_model
from .sensors import build_race_finished_sensor

__all__ = ["build_defs"]


def build_defs(
    settings: Settings, marts: Sequence[dg.AssetKey], seasons: Sequence[int]
) -> dg.Definitions:
    """The in-race model downstream of the marts it reads, and the race-finished sensor over the
    season partitions ``seasons``. No Redis connection is made here."""
    by_table = {key.path[-1]: key for key in marts}
    missing = sorted(set(MARTS_READ) - set(by_table))
    if missing:
        raise ValueError(f"the in-race model reads marts that are not in the graph: {missing}")
    live = LiveSettings()
    return dg.Definitions(
        assets=[build_in_race_model([by_table[t] for t in MARTS_READ])],
        sensors=[
            build_race_finished_sensor(
                live.redis_url or settings.redis_url, live.key_prefix, seasons
            )
        ],
    )
