"""``reports/post_race`` and ``reports/season``: thin wrappers over ``p3_reports``."""

# No `from __future__ import annotations`: Dagster reads context, config and resource hints.

from pathlib import Path

import dagster as dg
from pydantic import Field

from ...lib.components import OutputsResource
from ...lib.resources import PublishedSnapshotResource

SNAPSHOT_KEY = dg.AssetKey(["serving", "warehouse_snapshot"])
POST_RACE_KEY = dg.AssetKey(["reports", "post_race"])
ML_SNAPSHOT_KEY = dg.AssetKey(["serving", "ml_snapshot"])

# After each publish whose blocking checks passed.
AFTER_PUBLISH = dg.AutomationCondition.eager() & (
    dg.AutomationCondition.all_deps_blocking_checks_passed()
)


class PostRaceConfig(dg.Config):
    """Which race to report on."""

    race: str = Field(
        default="latest",
        description="'<season>-<round>' (e.g. '2019-20'), or 'latest' for the newest race.",
    )
    pdf: bool = Field(default=True, description="Also write the PDF (WeasyPrint).")


class SeasonConfig(dg.Config):
    """Which season to report on."""

    season: int = Field(default=0, description="A season, or 0 for the newest one.")
    pdf: bool = Field(default=True, description="Also write the PDF (WeasyPrint).")


def _ml_path(ml_snapshot: PublishedSnapshotResource) -> Path | None:
    path = Path(ml_snapshot.path)
    return path if path.exists() else None


# Not eager: race_published_sensor requests one run per race a publish adds, with its config.
@dg.asset(
    key=POST_RACE_KEY,
    deps=[SNAPSHOT_KEY, ML_SNAPSHOT_KEY],
    group_name="reports",
    kinds={"html", "pdf"},
    tags={"layer": "reports"},
)
def post_race_report(
    context: dg.AssetExecutionContext,
    config: PostRaceConfig,
    snapshot: PublishedSnapshotResource,
    ml_snapshot: PublishedSnapshotResource,
    outputs: OutputsResource,
) -> dg.MaterializeResult:
    """The post-race report of a race (default: the newest in the published snapshot) as
    ``$P3_HOME/reports/post_race/<season>-<round>.html`` and ``.pdf``: the result, positions lap
    by lap, lap-time distributions, the pit-stop timeline, places gained and lost, the model's
    prediction against the result, the championship before and after, and detected anomalies.
    Sections the snapshot has no data for (lap times before 1996 or after the dump's 2020) say
    so. ``race_published_sensor`` requests it for every race a publish adds; any other race
    through the run config ``race``. The ML snapshot is a dependency so a run that rebuilds both
    shows the fresh prediction."""
    from p3_reports.charts import markdown_image
    from p3_reports.post_race import write_post_race

    report = write_post_race(
        Path(snapshot.path),
        config.race,
        outputs.folder("reports", "post_race"),
        _ml_path(ml_snapshot),
        pdf=config.pdf,
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
