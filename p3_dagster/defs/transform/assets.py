"""The dbt models as one Dagster multi-asset; dbt tests surface as asset checks."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtProject, dbt_assets

from ...lib.catalog import beta_code_references
from ...lib.dbt import (
    DbtConfig,
    P3DbtCliResource,
    P3DbtTranslator,
    dbt_build_args,
    failure_summary,
    relation_metadata,
    strip_ansi,
)


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

    with beta_code_references():  # the translator links each model's SQL file

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
            """Build the dbt models and run their tests (staging and intermediate views, mart tables).

            Each materialisation carries the relation's column schema (with types) and row count,
            read from the warehouse once dbt has finished (so materialisations follow dbt's exit
            while test results stream as they come); a failure names the failed dbt nodes.
            """
            invocation = dbt.cli(dbt_build_args(config), context=context, raise_on_error=False)
            outputs = []
            for event in invocation.stream():
                if isinstance(event, dg.Output):
                    outputs.append(event)
                else:
                    # Test results and observations are recorded while dbt is still running,
                    # so their event writes overlap dbt's work instead of following it.
                    yield event
            warehouse = Path(dbt.environment.get("P3_DUCKDB_PATH", ""))
            yield from with_relation_metadata(outputs, context, warehouse)
            raise_if_failed(invocation)

    return dbt_models


def with_relation_metadata(
    events: Sequence[Any], context: dg.AssetExecutionContext, warehouse: Path
) -> Iterator[Any]:
    """``events`` with column schema and row count added to every model output."""
    keys = {
        event.output_name: context.asset_key_for_output(event.output_name)
        for event in events
        if isinstance(event, dg.Output)
    }
    found = relation_metadata(warehouse, [tuple(key.path) for key in keys.values()])
    for event in events:
        if isinstance(event, dg.Output) and tuple(keys[event.output_name].path) in found:
            columns, row_count = found[tuple(keys[event.output_name].path)]
            schema = dg.TableSchema(
                columns=[dg.TableColumn(name=name, type=type_) for name, type_ in columns]
            )
            event = event.with_metadata(
                {
                    **event.metadata,
                    "dagster/column_schema": schema,
                    "dagster/row_count": dg.MetadataValue.int(row_count),
                }
            )
        yield event


def raise_if_failed(invocation: DbtCliInvocation) -> None:
    """Fail the step with the failed dbt nodes and their messages (not dbt's command line)."""
    if invocation.process.wait() == 0:
        return
    summary = None
    try:
        summary = failure_summary(invocation.get_artifact("run_results.json"), invocation.manifest)
    except FileNotFoundError:  # dbt failed before running anything (e.g. a compile error)
        errors = getattr(invocation, "_error_messages", [])
        summary = "\n".join(strip_ansi(message) for message in errors) or None
    log = invocation.target_path / "dbt.log"
    raise dg.Failure(
        description=summary or f"dbt exited with code {invocation.process.returncode}.",
        metadata={"dbt_log": dg.MetadataValue.path(str(log))},
    )
