"""Jobs of the ingestion domain."""

from __future__ import annotations

import dagster as dg

ingest_ergast_job = dg.define_asset_job(
    "ingest_ergast_job",
    selection=dg.AssetSelection.groups("ingestion"),
    description=(
        "Load every raw Ergast table from the configured source. Launch it for a season range "
        "to load many seasons in one run (the raw assets use a single-run backfill policy)."
    ),
)
