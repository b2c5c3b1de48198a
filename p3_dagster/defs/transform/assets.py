"""The dbt models as one Dagster multi-asset; dbt tests surface as asset checks."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import functools
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject, dbt_assets

from ...lib.dbt import DbtConfig, dbt_build_args
from ...lib.dbt_translator import P3DbtTranslator
from ...lib.resources import P3DbtCliResource


@functools.cache
def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    """Every dbt model, built with ``dbt build`` in one step under the ``duckdb_write`` pool.

    Not partitioned: the whole F1 history rebuilds in seconds on DuckDB, and one unpartitioned
    definition avoids mixed partition definitions downstream of the season-partitioned raw layer.
    """
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {project.manifest_path}; run `make manifest` "
            "(dbt parse) or start the UI with `make dev`, which prepares it"
        )

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=P3DbtTranslator(),
        name="dbt_models",
        pool="duckdb_write",
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: P3DbtCliResource, config: DbtConfig
    ) -> Iterator[Any]:
        """Build the dbt models and run their tests (staging views, intermediate views, mart tables)."""
        yield from dbt.cli(dbt_build_args(config), context=context).stream()

    return dbt_models
