"""P3's HTTP API gateway: the Ergast-compatible read API and the /v1 analytics API over the
published snapshot. Never imports Dagster or dbt; reads the snapshot through ``p3_query``.

``create_app`` lives in ``p3_api.app``. Nothing is imported here: ``python -m p3_api`` must set
up the metrics folder before prometheus_client is first imported.
"""
