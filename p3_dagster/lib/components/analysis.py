"""The Analysis component type: a question declared in YAML becomes an asset downstream of the
published snapshot, with its outputs as files, a chart in its metadata and a result check."""

# No `from __future__ import annotations`: Dagster reads the asset function's resource hints.

from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster.components.scaffold.scaffold import ScaffoldRequest, scaffold_with

from p3_query.spec import SpecError
from p3_reports.analyses import AnalysisConfig, AnalysisConfigError, load_analysis
from p3_reports.analyses.describe import describe

from ..resources import PublishedSnapshotResource
from .outputs import OutputsResource

SNAPSHOT_KEY = dg.AssetKey(["serving", "warehouse_snapshot"])
CHECK_NAME = "result_is_non_empty_and_within_bounds"


def template_attributes(name: str) -> dict[str, Any]:
    """A working example analysis named ``name``: edit its question, keep its shape."""
    return {
        "title": f"{name.replace('_', ' ').capitalize()}",
        "description": "What this analysis answers, for whom, and how to read it.",
        "owners": ["team:analytics"],
        "queries": [
            {
                "name": "rows",
                "spec": {
                    "entity": "constructor",
                    "seasons": {"from": 2014, "to": 2024},
                    "metrics": ["points", "races"],
                    "group_by": ["season", "entity"],
                    "order_by": ["-points"],
                    "limit": 100,
                },
            }
        ],
        "custom_metrics": {"points_per_race": "points / races"},
        "series": [
            {"name": "points_rolling_3", "kind": "rolling", "column": "points", "window": 3}
        ],
        "chart": {
            "kind": "line",
            "x": "season",
            "y": "points_per_race",
            "by": "entity_name",
            "y_label": "points per race",
        },
        "bounds": [{"column": "points_per_race", "min": 0, "max": 60}],
    }


class AnalysisScaffolder(dg.Scaffolder):
    """``dg scaffold defs p3_dagster.lib.components.Analysis analyses/<name>``: a defs.yaml with
    a working example to edit."""

    def scaffold(self, request: ScaffoldRequest) -> None:
        dg.scaffold_component(request, template_attributes(Path(request.target_path).name))


@scaffold_with(AnalysisScaffolder)
class Analysis(dg.Component, dg.Model, dg.Resolvable):
    """A declared analysis: query specs (inline or saved files) with custom metrics, filters,
    derived series (rolling, cumulative, rank, share, difference to a baseline entity), a chart,
    outputs (csv, parquet, markdown, chart PNG+SVG, html) under P3_HOME/analyses/<name>/, the
    check's bounds and when to refresh (after each publish, or a cron).

    Attributes are validated strictly when the code location loads: an unknown metric, a bad
    expression or a missing field fails the load with ``<file>:<line>: <what is allowed>``.
    """

    # These fields give `dg` the schema (docs, `dg check yaml`); build_defs validates the YAML as
    # written, strictly and with line numbers, through p3_reports.analyses.load_analysis.
    name: str | None = None
    title: str | None = None
    description: str | None = None
    owners: list[str] | None = None
    queries: list[dict[str, Any]] | None = None
    custom_metrics: dict[str, str] | None = None
    filters: list[dict[str, Any]] | None = None
    series: list[dict[str, Any]] | None = None
    chart: dict[str, Any] | None = None
    outputs: list[str] | None = None
    refresh: Any | None = None
    bounds: list[dict[str, Any]] | None = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = Path(context.path)
        yaml_file = path / "defs.yaml" if path.is_dir() else path
        config, specs = load_declared(yaml_file, default_name=yaml_file.parent.name)
        return dg.Definitions(assets=[build_analysis_asset(config, specs, yaml_file)])


def load_declared(yaml_file: Path, default_name: str) -> tuple[AnalysisConfig, tuple[Any, ...]]:
    """Validate the ``attributes`` of ``yaml_file`` as written (one-line AnalysisConfigError)."""
    text = yaml_file.read_text(encoding="utf-8")
    document = yaml.safe_load(text) or {}
    attributes = dict(document.get("attributes") or {})
    attributes.setdefault("name", default_name)
    return load_analysis(attributes, yaml_file, yaml_lines(text, root=("attributes",)))


def yaml_lines(text: str, root: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Key paths of a YAML document to their 1-based line (list items by index), below ``root``."""
    found: dict[tuple[Any, ...], int] = {}

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        found[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                walk(value, child)
                found[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    document = yaml.compose(text, Loader=yaml.SafeLoader)
    if document is not None:
        walk(document, ())
    return {k[len(root) :]: v for k, v in found.items() if k[: len(root)] == root}


def _description(config: AnalysisConfig, specs: tuple[Any, ...], yaml_file: Path | None) -> str:
    """The analysis's description, then each query's SQL and plan compiled from the spec and the
    registry (no snapshot is opened: loading the code location does no I/O)."""
    try:
        return describe(config, specs)
    except SpecError as exc:
        # The planner refused a spec validation accepted: still the declaration's problem.
        raise AnalysisConfigError(yaml_file or config.name, None, str(exc)) from None


def build_analysis_asset(
    config: AnalysisConfig, specs: tuple[Any, ...], yaml_file: Path | None = None
) -> dg.AssetsDefinition:
    """``analyses/<name>``: runs the analysis on the published snapshot and checks its result.

    Its description holds the SQL and plan compiled at load; each materialisation's metadata holds
    the ones it ran (re-planned on the snapshot's row counts, refs resolved to ids)."""
    key = dg.AssetKey(["analyses", config.name])
    if config.refresh == "after_publish":
        condition = dg.AutomationCondition.eager() & (
            dg.AutomationCondition.all_deps_blocking_checks_passed()
        )
    else:
        condition = dg.AutomationCondition.on_cron(config.refresh.cron)
    bounds = ", ".join(f"{b.column} in [{b.min}, {b.max}]" for b in config.bounds) or "none"

    @dg.asset(
        key=key,
        deps=[SNAPSHOT_KEY],
        group_name="analyses",
        description=_description(config, specs, yaml_file),
        owners=config.owners,
        kinds={"python", "duckdb"},
        automation_condition=condition,
        tags={"layer": "analyses"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description=f"The result has rows, and the declared bounds hold ({bounds}).",
            )
        ],
    )
    def analysis(
        context: dg.AssetExecutionContext,
        snapshot: PublishedSnapshotResource,
        outputs: OutputsResource,
    ) -> dg.MaterializeResult:
        from p3_query.engine import Engine
        from p3_reports.analyses import run_analysis
        from p3_reports.charts import markdown_image

        engine = Engine(Path(snapshot.path), pool_size=1)
        try:
            run = run_analysis(config, specs, engine, outputs.folder("analyses", config.name))
        finally:
            engine.close()
        for note in run.notes:
            context.log.warning(note)
        metadata: dict[str, Any] = {
            "dagster/row_count": len(run.table),
            "build_id": run.build_id,
            "title": config.title,
            "preview": dg.MetadataValue.md(run.preview_markdown()),
            "files": dg.MetadataValue.json({k: str(v) for k, v in run.files.items()}),
            "sql": dg.MetadataValue.md(
                "\n\n".join(f"`{n}`:\n```sql\n{s}\n```" for n, s in run.sql.items())
            ),
            "plan": dg.MetadataValue.md(
                "\n\n".join(f"`{n}`:\n```\n{p}\n```" for n, p in run.plans.items())
            ),
        }
        if run.figure is not None:
            metadata["chart"] = dg.MetadataValue.md(markdown_image(run.figure, config.title))
        if "csv" in run.files:
            metadata["path"] = dg.MetadataValue.path(str(run.files["csv"]))
        if run.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in run.notes))
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=run.check.passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "rows": run.check.rows,
                        "problems": dg.MetadataValue.md(
                            "\n".join(f"- {p}" for p in run.check.problems) or "none"
                        ),
                    },
                )
            ],
            data_version=dg.DataVersion(run.build_id),
        )

    return analysis


__all__ = [
    "Analysis",
    "AnalysisConfigError",
    "AnalysisScaffolder",
    "build_analysis_asset",
    "load_declared",
    "template_attributes",
]
