"""Serving: the published read-only snapshot of the marts (and, later, the query cache)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from .assets import build_snapshot_asset


def build_defs(marts: Sequence[dg.AssetKey]) -> dg.Definitions:
    """The snapshot asset downstream of every mart."""
    return dg.Definitions(assets=[build_snapshot_asset(tuple(marts))])
