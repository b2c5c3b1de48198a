"""The P3 code location: the single entry point Dagster loads (workspace.yaml, dagster dev, dg)."""

from __future__ import annotations

import functools

import dagster as dg

from p3_common.settings import Settings, get_settings

from .defs import analyses, automation, ingestion, reports, serving, transform
from .defs.jobs import materialize_everything_job
from .defs.live import build_defs as build_live_defs
from .defs.ml import build_defs as build_ml_defs
from .defs.resources import build_resources, build_source_resource
from .lib.catalog import catalogued
from .lib.components import OutputsResource
from .monitoring import build_defs as build_monitoring_defs


@functools.cache
def build_definitions(settings: Settings) -> dg.Definitions:
    """Assemble every domain's definitions for ``settings``, then apply global policies.

    Nothing here touches the network or the warehouse, and dbt is only parsed under `dagster dev`
    (prepare_if_dev); otherwise the manifest must exist (`make manifest`). The only other I/O is
    reading the season list of a local dump.
    """
    seasons = build_source_resource(settings).seasons_to_load(settings.seasons)

    raw = ingestion.build_defs(settings, seasons)
    models = transform.build_defs(settings)
    marts = [
        key
        for assets_def in models.assets or []
        for key in assets_def.keys  # type: ignore[union-attr]
        if key.path[0] == "marts"
    ]
    published = serving.build_defs(marts)
    downstream = dg.Definitions.merge(models, published).map_asset_specs(
        func=automation.with_policies
    )
    definitions = dg.Definitions.merge(
        raw,
        downstream,
        build_ml_defs(marts),
        build_live_defs(settings, marts, seasons),
        automation.build_defs(settings),
        build_monitoring_defs(settings),
        # Declared analyses (YAML components under defs/analyses), downstream of the snapshot.
        analyses.build_defs(),
        reports.build_defs(),
        dg.Definitions(resources={"outputs": OutputsResource(root=str(settings.home))}),
        dg.Definitions(
            jobs=[materialize_everything_job],
            resources=build_resources(settings),
            # One DuckDB writer at a time makes steps sequential anyway; the multiprocess
            # executor would only add ~8 s of process start-up per step on 2 cores.
            executor=dg.in_process_executor,
        ),
    )
    return catalogued(definitions)


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for the settings in the environment (P3_ENV, P3_SOURCE, ...)."""
    return build_definitions(get_settings())
