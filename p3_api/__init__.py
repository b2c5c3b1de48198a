"""P3's HTTP API gateway: the Ergast-compatible read API and the /v1 analytics API over the
published snapshot. Never imports Dagster or dbt; reads the snapshot through ``p3_query``."""

from .app import create_app

__all__ = ["create_app"]
