"""``reports/post_race`` and ``reports/season``: thin wrappers over ``p3_reports``."""

# No `from __future__ import annotations`: Dagster reads context, config and resource hints.

from pathlib import Path

import dagster as dg
from pydantic import Field

from ...lib.components import OutputsResource
from ...lib.resources import PublishedSnapshotResource

SNAPSHOT_KEY = dg.AssetKey(["serving", "warehouse_snapshot"])
POST_RACE_KEY = dg.AssetKey(["reports", "post_race"])
LATEST_RACE_KEY = dg.AssetKey(["reports", "latest_race"])
ML_SNAPSHOT_KEY = dg.AssetKey(["serving", "ml_snapshot"])

# After each publish whose blocking checks passed.
AFTER_PUBLISH = dg.AutomationCondition.eager() & (
    dg.AutomationCondition.all_deps_blocking_checks_passed()
)


# One partition per race, "<season>-<round>" (e.g. "2019-21"), added by race_published_sensor as
# publishes bring races (dynamic: the calendar grows with every season the source loads).
race_partitions = dg.DynamicPartitionsDefinition(name="races")


class ReportConfig(dg.Config):
    """How to render a report."""

    pdf: bool = Field(default=True, description="Also write the PDF (WeasyPrint).")


class SeasonConfig(dg.Config):
    """Which season to report on."""

    season: int = Field(default=0, description="A season, or 0 for the newest one.")
    pdf: bool = Field(default=True, description="Also write the PDF (WeasyPrint).")


def _ml_path(ml_snapshot: PublishedSnapshotResource) -> Path | None:
    path = Path(ml_snapshot.path)
    return path if path.exists() else None


def _post_race(
    context: dg.AssetExecutionContext,
    race: str,
    pdf: bool,
    snapshot: PublishedSnapshotResource,
    ml_snapshot: PublishedSnapshotResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    from p3_reports.charts import markdown_image
    from p3_reports.post_race import write_post_race

    report = write_post_race(
        Path(snapshot.path),
        race,
        outputs.folder("reports", "post_race"),
        _ml_path(ml_snapshot),
        pdf=pdf,
    )
    if report.empty_sections:
        context.log.info(f"sections without data: {', '.join(report.empty_sections)}")
    metadata: dict[str, object] = {
        "race": report.facts["race"],
        "race_key": report.facts["key"],
        "winner": report.facts["winner"],
        "laps": report.facts["laps"],
        "build_id": report.facts["build_id"],
        "sections_without_data": ", ".join(report.empty_sections) or "none",
        "html": dg.MetadataValue.path(str(report.files["html"])),
    }
    if "pdf" in report.files:
        metadata["pdf"] = dg.MetadataValue.path(str(report.files["pdf"]))
    chart = next((s.figure for s in report.sections if s.figure is not None), None)
    if chart is not None:
        metadata["chart"] = dg.MetadataValue.md(markdown_image(chart, report.title))
    return dg.MaterializeResult(metadata=metadata)


REPORT_SECTIONS = """the result, positions lap by lap, lap-time distributions, the pit-stop
timeline, places gained and lost, the model's prediction against the result, the championship
before and after, and detected anomalies. Sections the snapshot has no data for (lap times before
1996 or after the dump's 2020) say so."""


# Not eager: race_published_sensor adds each race a publish brings and requests its partition.
@dg.asset(
    key=POST_RACE_KEY,
    deps=[SNAPSHOT_KEY, ML_SNAPSHOT_KEY],
    partitions_def=race_partitions,
    group_name="reports",
    kinds={"html", "pdf"},
    tags={"layer": "reports"},
    description="The post-race report of each race (one partition per race, "
    "``<season>-<round>``) as ``$P3_HOME/reports/post_race/<season>-<round>.html`` and "
    "``.pdf``: " + REPORT_SECTIONS + " ``race_published_sensor`` adds the races each publish "
    "brings and requests their reports; backfill any others from the UI.",
)
def post_race_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    snapshot: PublishedSnapshotResource,
    ml_snapshot: PublishedSnapshotResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    return _post_race(context, context.partition_key, config.pdf, snapshot, ml_snapshot, outputs)


@dg.asset(
    key=LATEST_RACE_KEY,
    deps=[SNAPSHOT_KEY, ML_SNAPSHOT_KEY],
    group_name="reports",
    kinds={"html", "pdf"},
    automation_condition=AFTER_PUBLISH,
    tags={"layer": "reports"},
    description="The post-race report of the newest race in the published snapshot, rebuilt "
    "after each publish (what `make run` leaves under ``$P3_HOME/reports/post_race``): "
    + REPORT_SECTIONS,
)
def latest_race_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    snapshot: PublishedSnapshotResource,
    ml_snapshot: PublishedSnapshotResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    return _post_race(context, "latest", config.pdf, snapshot, ml_snapshot, outputs)


@dg.asset(
    key=["reports", "season"],
    deps=[SNAPSHOT_KEY],
    group_name="reports",
    kinds={"html", "pdf"},
    automation_condition=AFTER_PUBLISH,
    tags={"layer": "reports"},
)
def season_report(
    context: dg.AssetExecutionContext,
    config: SeasonConfig,
    snapshot: PublishedSnapshotResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """The season report of a season (default: the newest) as
    ``$P3_HOME/reports/season/<season>.html`` and ``.pdf``: the drivers' championship after each
    round, final driver and constructor tables, wins per team and every race's winner. Rebuilt
    after each publish; any other season through the run config ``season``."""
    from p3_reports.charts import markdown_image
    from p3_reports.season import write_season

    report = write_season(
        Path(snapshot.path),
        config.season or None,
        outputs.folder("reports", "season"),
        pdf=config.pdf,
    )
    metadata: dict[str, object] = {
        "season": report.facts["season"],
        "champion": report.facts["champion"],
        "races": report.facts["races"],
        "build_id": report.facts["build_id"],
        "html": dg.MetadataValue.path(str(report.files["html"])),
    }
    if "pdf" in report.files:
        metadata["pdf"] = dg.MetadataValue.path(str(report.files["pdf"]))
    chart = next((s.figure for s in report.sections if s.figure is not None), None)
    if chart is not None:
        metadata["chart"] = dg.MetadataValue.md(markdown_image(chart, report.title))
    return dg.MaterializeResult(metadata=metadata)
