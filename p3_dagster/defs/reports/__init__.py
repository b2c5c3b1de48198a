"""Reports: the post-race report of a race and the season report, as HTML and PDF under
``$P3_HOME/reports``, rendered by ``p3_reports`` after each publish."""

from __future__ import annotations

import dagster as dg

from .assets import latest_race_report, post_race_report, season_report
from .sensors import race_published_sensor, render_post_race_reports_job

__all__ = ["build_defs"]


def build_defs() -> dg.Definitions:
    """The report assets (resources: ``snapshot``, ``ml_snapshot``, ``outputs``): each race's
    (partitioned by race), the newest race's and the newest season's; the job rendering one
    race's report and the sensor requesting it for every newly published race."""
    return dg.Definitions(
        assets=[post_race_report, latest_race_report, season_report],
        jobs=[render_post_race_reports_job],
        sensors=[race_published_sensor],
    )
