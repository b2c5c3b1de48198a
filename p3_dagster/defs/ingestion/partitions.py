"""Season partitions of the race-scoped raw tables."""

from __future__ import annotations

import dagster as dg


def build_season_partitions(seasons: list[int]) -> dg.StaticPartitionsDefinition:
    """``season_partitions``: one partition per championship season, as a 4-digit year string."""
    if not seasons:
        raise ValueError("no seasons to partition by: check P3_SEASONS and the source")
    return dg.StaticPartitionsDefinition([str(season) for season in sorted(seasons)])
