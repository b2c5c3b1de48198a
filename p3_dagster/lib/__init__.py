"""Reusable building blocks with no Dagster definitions: sources, warehouse loading, resources."""
