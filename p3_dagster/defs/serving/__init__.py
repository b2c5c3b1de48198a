"""Serving: the published read-only snapshot of the marts and the query cache warmed for it."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from .assets import build_snapshot_asset
from .cache import build_cache_asset


def build_defs(marts: Sequence[dg.AssetKey]) -> dg.Definitions:
    """The snapshot asset downstream of every mart, and the query cache downstream of it."""
    return dg.Definitions(assets=[build_snapshot_asset(tuple(marts)), build_cache_asset()])
