"""Transform: the dbt project (staging -> intermediate -> marts) as Dagster assets with dbt tests as checks."""

from __future__ import annotations

import dagster as dg

from p3_common.settings import Settings

from ...lib.dbt import dbt_project
from .assets import build_dbt_assets


def build_defs(settings: Settings) -> dg.Definitions:
    """The dbt models asset and its checks for the dbt target named by P3_ENV."""
    project = dbt_project(settings.env)
    project.prepare_if_dev()
    return dg.Definitions(assets=[build_dbt_assets(project)])
