"""The pipeline's plain code, without Dagster: the F1 sources, the warehouse loader, the quality
suites that gate each load, ingestion and publishing the read-only snapshot."""
