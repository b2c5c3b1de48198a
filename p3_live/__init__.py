"""Race day, live: timing events through Redis Streams into a live race state (no Dagster, no dbt)."""
