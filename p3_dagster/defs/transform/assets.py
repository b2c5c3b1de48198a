"""The dbt models as one Dagster multi-asset; dbt tests surface as asset checks."""

# No `from __future__ import annotations`: Dagster reads context and resource type hints at runtime.

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtProject, dbt_assets

from ...lib.catalog import beta_code_references
from ...lib.dbt import (
    BuildPlan,
    BuildState,
    DbtConfig,
    P3DbtCliResource,
    P3DbtTranslator,
    dbt_build_args,
    failure_summary,
    manifest_key,
    plan_build,
    read_state,
    relation_metadata,
    source_fingerprints,
    strip_ansi,
    write_state,
)
from ...lib.dbt.changes import source_relations


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

            Only what changed is redone: models downstream of the raw tables whose contents
            changed since the last complete build, and the tests that read them (everything when
            the dbt project changed, or with ``only_changed`` off). A model that is not rebuilt
            is reported with ``p3/rebuilt: false``: its inputs and SQL are those of the last build.
            Each rebuilt materialisation carries the relation's column schema (with types) and
            row count, read from the warehouse once dbt has finished (so materialisations follow
            dbt's exit while test results stream as they come); a failure names the failed dbt
            nodes.
            """
            warehouse = Path(dbt.environment.get("P3_DUCKDB_PATH", ""))
            manifest = _load_manifest(str(project.manifest_path))
            current = BuildState(
                project_key=manifest_key(
                    Path(project.project_dir), str(project.target), dbt.environment
                ),
                sources=source_fingerprints(warehouse, source_relations(manifest).values()),
            )
            plan = plan_build(
                manifest, read_state(warehouse), current, only_changed=config.only_changed
            )
            context.log.info(f"dbt build: {plan.reason}")
            yield from unchanged_outputs(context, manifest, plan)
            if not plan.nothing_to_do:
                invocation = dbt.cli(
                    dbt_build_args(config, plan.exclude), context=context, raise_on_error=False
                )
                outputs = []
                for event in invocation.stream():
                    if isinstance(event, dg.Output):
                        outputs.append(event)
                    else:
                        # Test results and observations are recorded while dbt is still running,
                        # so their event writes overlap dbt's work instead of following it.
                        yield event
                yield from with_relation_metadata(outputs, context, warehouse)
                raise_if_failed(invocation)
            if set(context.selected_asset_keys) == set(context.assets_def.keys):
                # Only a build of every model leaves the whole warehouse consistent with `current`.
                write_state(warehouse, current)

    return dbt_models


@functools.cache
def _load_manifest(path: str) -> Mapping[str, Any]:
    return json.loads(Path(path).read_text())


def unchanged_outputs(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any], plan: BuildPlan
) -> Iterator[dg.Output]:
    """An output for each selected model the plan leaves as it is, so that the assets downstream
    (the snapshot) run as they would after a rebuild."""
    translator = P3DbtTranslator()
    nodes = manifest.get("nodes") or {}
    selected = set(context.selected_asset_keys)
    for unique_id in plan.unchanged_nodes:
        key = translator.get_asset_key(nodes[unique_id])
        if key in selected:
            yield dg.Output(
                None,
                output_name=context.assets_def.get_output_name_for_asset_key(key),
                metadata={
                    "p3/rebuilt": False,
                    "p3/reason": plan.reason,
                },
            )


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
