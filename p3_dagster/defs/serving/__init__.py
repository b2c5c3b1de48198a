"""Serving: the published read-only snapshot of the marts, the query-sequence model and the query
cache warmed for it."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from .assets import build_snapshot_asset
from .cache import build_cache_asset
from .sequence_model import build_sequence_model_asset


def build_defs(marts: Sequence[dg.AssetKey]) -> dg.Definitions:
    """The snapshot downstream of every mart; the sequence model and the query cache after it."""
    return dg.Definitions(
        assets=[
            build_snapshot_asset(tuple(marts)),
            build_sequence_model_asset(),
            build_cache_asset(),
        ]
    )
