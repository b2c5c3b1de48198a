"""Cross-domain automation: the automation-condition sensor, run-failure alerts, freshness policies."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import Settings

from .policies import with_policies
from .sensors import build_run_failure_alert_sensor

__all__ = ["build_defs", "with_policies"]


def build_defs(settings: Settings) -> dg.Definitions:
    """Sensors that act across domains."""
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "automation_condition_sensor",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=settings.automation_interval_seconds,
                description=(
                    "Evaluates the assets' automation conditions: dbt models and the published "
                    "snapshot follow new raw data; nothing upstream runs on its own."
                ),
            ),
            build_run_failure_alert_sensor(
                str(settings.alert_webhook) if settings.alert_webhook else None,
                str(settings.dagster_ui_url) if settings.dagster_ui_url else None,
            ),
        ]
    )
