"""Monitoring: the pipeline exporter (``p3 exporter``), run-duration anomaly alerts, the weekly
performance report."""
