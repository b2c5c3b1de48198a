"""Dagster definitions, one folder per domain; p3_dagster.definitions assembles them."""
