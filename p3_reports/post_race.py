"""The post-race report: sections of tables and charts for one race, as HTML and PDF."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from . import race_charts
from .charts import data_uri
from .race_data import RaceData, load_race
from .render import html_to_pdf, render_html, write_atomically

STANDINGS_ROWS = 10


@dataclass
class Section:
    """One section: a title, a chart and/or a table, or the reason it has no data."""

    title: str
    figure: Figure | None = None
    table: pd.DataFrame | None = None
    no_data: str | None = None
    note: str | None = None

    def chart_uri(self) -> str | None:
        """The chart as an embedded PNG."""
        return data_uri(self.figure, "png") if self.figure is not None else None

    def table_html(self) -> str | None:
        """The table as escaped HTML."""
        if self.table is None or self.table.empty:
            return None
        return str(self.table.to_html(index=False, na_rep="", border=0, float_format="{:g}".format))


@dataclass
class Report:
    """A rendered report and the files written."""

    title: str
    html: str
    sections: list[Section]
    facts: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def empty_sections(self) -> list[str]:
        """Titles of the sections without data."""
        return [s.title for s in self.sections if s.no_data]


def build_sections(data: RaceData) -> list[Section]:
    """Every section of the report, in order; a section without data says why."""
    no_laps = (
        "no lap times for this race in the snapshot (the Ergast data has lap times from 1996; "
        "the dump has none after 2020)"
    )
    results = data.results[
        [
            "position_text",
            "driver_name",
            "constructor_name",
            "grid",
            "laps",
            "race_time",
            "status",
            "points",
        ]
    ].rename(
        columns={
            "position_text": "pos",
            "driver_name": "driver",
            "constructor_name": "team",
            "race_time": "time",
        }
    )
    sections = [
        Section("Result", table=results, no_data=None if len(results) else "no results"),
        _chart_section("Position lap by lap", race_charts.position_chart(data), no_laps),
        _chart_section("Lap-time distributions", race_charts.lap_time_chart(data), no_laps),
        _chart_section(
            "Pit stops",
            race_charts.pit_stop_chart(data),
            "no pit-stop data for this race (Ergast times pit stops from 2011)",
        ),
        _chart_section(
            "Positions gained and lost",
            race_charts.positions_gained_chart(data),
            "no classified starters with a grid slot",
        ),
        _prediction_section(data),
        _championship_section(data),
        _constructors_section(data),
        _anomaly_section(data),
    ]
    return sections


def _chart_section(title: str, figure: Figure | None, reason: str) -> Section:
    return Section(title, figure=figure, no_data=None if figure is not None else reason)


def _prediction_section(data: RaceData) -> Section:
    figure = race_charts.prediction_chart(data)
    if figure is None:
        return Section(
            "Prediction against the result",
            no_data="no model prediction for this race in the ML snapshot (the model predicts "
            "the newest race of each build)",
        )
    table = data.predictions[
        [
            "predicted_rank",
            "actual_rank",
            "driver_name",
            "constructor_name",
            "grid_position",
            "win_prob",
            "podium_prob",
        ]
    ].round({"win_prob": 3, "podium_prob": 3})
    return Section("Prediction against the result", figure=figure, table=table)


def _championship_section(data: RaceData) -> Section:
    after = data.standings_after
    if after.empty:
        return Section("Championship before and after", no_data="no standings for this race")
    before = data.standings_before.set_index("driver_ref") if len(data.standings_before) else None
    rows = []
    for row in after.head(STANDINGS_ROWS).itertuples():
        was = (
            before.loc[row.driver_ref]
            if before is not None and row.driver_ref in before.index
            else None
        )
        rows.append(
            {
                "pos": int(row.position),
                "driver": row.driver_name,
                "points": row.points,
                "pos before": int(was["position"]) if was is not None else None,
                "points before": was["points"] if was is not None else 0.0,
                "change": (int(was["position"]) - int(row.position)) if was is not None else None,
            }
        )
    note = None if before is not None else "first round of the season: no standings before it"
    if data.race.round == data.race.rounds_in_season:
        note = "This was the final round: the standings after it are the final ones."
    return Section("Championship before and after", table=pd.DataFrame(rows), note=note)


def _constructors_section(data: RaceData) -> Section:
    title = "Constructors' championship after the race"
    if data.constructor_standings.empty:
        return Section(title, no_data="no constructors' standings for this race")
    table = data.constructor_standings.drop(columns=["constructor_ref"]).rename(
        columns={"position": "pos", "constructor_name": "team"}
    )
    return Section(title, table=table.head(STANDINGS_ROWS))


def _anomaly_section(data: RaceData) -> Section:
    names = dict(zip(data.results["driver_id"], data.results["driver_name"], strict=True))
    parts = []
    if len(data.lap_anomalies):
        laps = data.lap_anomalies.assign(driver=data.lap_anomalies["driver_id"].map(names))
        laps = laps.assign(kind="lap time", detail=laps["lap_time_ms"] / 1000)
        parts.append(laps[["kind", "driver", "lap", "detail", "robust_z", "direction"]])
    if len(data.pit_anomalies):
        stops = data.pit_anomalies.assign(driver=data.pit_anomalies["driver_id"].map(names))
        stops = stops.assign(kind="pit stop", detail=stops["duration_ms"] / 1000)
        parts.append(stops[["kind", "driver", "lap", "detail", "robust_z", "direction"]])
    if not parts:
        return Section(
            "Anomalies", no_data="no lap-time or pit-stop anomalies detected for this race"
        )
    table = pd.concat(parts, ignore_index=True).rename(columns={"detail": "time (s)"})
    return Section("Anomalies", table=table.round({"time (s)": 3, "robust_z": 2}))


def render_post_race(data: RaceData) -> Report:
    """The report of ``data`` as HTML (charts embedded)."""
    race = data.race
    sections = build_sections(data)
    facts = {
        "race": f"{race.season} {race.race_name}",
        "key": race.key,
        "date": race.race_date,
        "circuit": f"{race.circuit_name}, {race.location}, {race.country}",
        "round": f"round {race.round} of {race.rounds_in_season}",
        "winner": data.winner or "no classified winner",
        "laps": data.laps_completed,
        "build_id": data.build_id,
    }
    title = f"{race.season} {race.race_name}"
    html = render_html("post_race.html.j2", title=title, facts=facts, sections=sections)
    return Report(title, html, sections, facts)


def write_post_race(
    snapshot: Path,
    key: str,
    out_dir: Path,
    ml_snapshot: Path | None = None,
    *,
    pdf: bool = True,
) -> Report:
    """Load race ``key`` (``season-round`` or ``latest``), render it and write
    ``<out_dir>/<season>-<round>.html`` (and ``.pdf``)."""
    data = load_race(snapshot, key, ml_snapshot)
    report = render_post_race(data)
    stem = out_dir / data.race.key
    report.files["html"] = write_atomically(stem.with_suffix(".html"), report.html)
    if pdf:
        report.files["pdf"] = write_atomically(stem.with_suffix(".pdf"), html_to_pdf(report.html))
    return report
