"""Monitoring: the pipeline exporter (``p3 exporter``), run-duration anomaly alerts, the weekly
performance report."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import Settings

from .orphans import build_orphaned_run_sensor
from .report import build_report_asset
from .sensors import build_run_duration_anomaly_sensor

__all__ = ["build_defs"]


def build_defs(settings: Settings) -> dg.Definitions:
    """The weekly ``monitoring/performance_report`` asset, the run-duration anomaly sensor and
    the sensor that fails runs whose worker died."""
    return dg.Definitions(
        assets=[build_report_asset(settings)],
        sensors=[
            build_run_duration_anomaly_sensor(
                str(settings.alert_webhook) if settings.alert_webhook else None,
                str(settings.dagster_ui_url) if settings.dagster_ui_url else None,
            ),
            build_orphaned_run_sensor(
                settings.orphan_grace_seconds, settings.orphan_sensor_interval_seconds
            ),
        ],
    )
