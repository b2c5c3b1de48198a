"""The season report: the championship's progression, final standings, race winners and
reliability for one season, as HTML and PDF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from p3_common.snapshot import open_snapshot

from .charts import new_figure
from .colours import colours_for
from .post_race import Report, Section
from .race_data import ReportError
from .render import html_to_pdf, render_html, write_atomically

TOP_DRIVERS = 8


@dataclass
class SeasonData:
    """The tables of one season."""

    season: int
    build_id: str
    races: pd.DataFrame
    progression: pd.DataFrame
    drivers: pd.DataFrame
    constructors: pd.DataFrame


def newest_season(snapshot: Path) -> int:
    """The newest season with race results in the snapshot."""
    with open_snapshot(snapshot) as con:
        row = con.execute("select max(season) from marts.fct_race_results").fetchone()
    if row is None or row[0] is None:
        raise ReportError("the snapshot has no race results")
    return int(row[0])


def load_season(snapshot: Path, season: int) -> SeasonData:
    """The season's races and winners, standings after every round, and final tables."""
    params = {"season": season}
    with open_snapshot(snapshot) as con:
        races = con.execute(
            """
            select races.round, races.race_name, cast(races.race_date as varchar) as date,
                drivers.full_name as winner, constructors.constructor_name as team,
                results.laps
            from marts.dim_races as races
            left join marts.fct_race_results as results
                on results.race_id = races.race_id and results.position_order = 1
            left join marts.dim_drivers as drivers on drivers.driver_id = results.driver_id
            left join marts.dim_constructors as constructors
                on constructors.constructor_id = results.constructor_id
            where races.season = $season
            order by races.round
            """,
            params,
        ).df()
        if races.empty:
            raise ReportError(f"season {season} is not in the published snapshot")
        progression = con.execute(
            """
            select standings.round, drivers.driver_ref, drivers.full_name as driver_name,
                standings.points, standings.position
            from marts.fct_driver_standings as standings
            inner join marts.dim_drivers as drivers on drivers.driver_id = standings.driver_id
            where standings.season = $season
            order by standings.round, standings.position
            """,
            params,
        ).df()
        drivers = con.execute(
            """
            select official_position as pos, full_name as driver, constructor_names as teams,
                points, wins, podiums, poles, dnfs, mechanical_dnfs, driver_ref
            from marts.mart_driver_season
            where season = $season
            order by official_position nulls last, points desc
            """,
            params,
        ).df()
        constructors = con.execute(
            """
            select official_position as pos, constructor_name as team, points, wins, podiums,
                poles, dnfs, mechanical_dnfs, mechanical_dnf_rate, constructor_ref
            from marts.mart_constructor_season
            where season = $season
            order by official_position nulls last, points desc
            """,
            params,
        ).df()
        build = con.execute("select build_id from p3_meta.build").fetchone()
    return SeasonData(
        season, str(build[0]) if build else "unknown", races, progression, drivers, constructors
    )


def progression_chart(data: SeasonData) -> Figure | None:
    """Championship points after each round of the season's top drivers."""
    if data.progression.empty:
        return None
    final_round = data.progression["round"].max()
    final = data.progression[data.progression["round"] == final_round].sort_values("position")
    top = final["driver_ref"].head(TOP_DRIVERS).tolist()
    teams = dict(zip(data.drivers["driver_ref"], data.drivers["teams"].astype(str), strict=True))
    team_refs = _team_refs(data)
    colours = colours_for(top, {r: team_refs.get(teams.get(r, ""), "") for r in top})
    figure = new_figure(10, 5)
    axes = figure.add_subplot()
    seen: set[str] = set()
    for ref in top:
        rows = data.progression[data.progression["driver_ref"] == ref].sort_values("round")
        style = "--" if colours[ref] in seen else "-"
        seen.add(colours[ref])
        axes.plot(
            rows["round"],
            rows["points"],
            style,
            marker="o",
            markersize=3,
            color=colours[ref],
            label=str(rows["driver_name"].iloc[0]),
        )
    axes.set_xlabel("round")
    axes.set_ylabel("championship points")
    axes.set_title(f"{data.season} drivers' championship: points after each round")
    axes.legend(fontsize=8, frameon=False)
    axes.grid(alpha=0.25)
    return figure


def _team_refs(data: SeasonData) -> dict[str, str]:
    """Constructor name -> ref, for drivers whose teams column is a single team's name."""
    return dict(zip(data.constructors["team"], data.constructors["constructor_ref"], strict=True))


def wins_chart(data: SeasonData) -> Figure | None:
    """Race wins per constructor."""
    winners = data.constructors[data.constructors["wins"] > 0].sort_values("wins")
    if winners.empty:
        return None
    colours = colours_for(winners["constructor_ref"].tolist())
    figure = new_figure(8, max(2.5, 0.4 * len(winners) + 1))
    axes = figure.add_subplot()
    axes.barh(
        winners["team"], winners["wins"], color=[colours[r] for r in winners["constructor_ref"]]
    )
    axes.set_xlabel("race wins")
    axes.set_title(f"{data.season}: wins per constructor")
    return figure


def render_season(data: SeasonData) -> Report:
    """The season report as HTML."""
    sections = [
        Section(
            "Drivers' championship",
            figure=progression_chart(data),
            table=data.drivers.drop(columns=["driver_ref"]),
            no_data=None if len(data.drivers) else "no driver standings",
        ),
        Section(
            "Constructors' championship",
            figure=wins_chart(data),
            table=data.constructors.drop(columns=["constructor_ref"]).round(
                {"mechanical_dnf_rate": 3}
            ),
            no_data=None if len(data.constructors) else "no constructor results",
        ),
        Section("Races and winners", table=data.races),
    ]
    champion = data.drivers["driver"].iloc[0] if len(data.drivers) else "unknown"
    facts = {
        "season": data.season,
        "races": len(data.races),
        "champion": champion,
        "build_id": data.build_id,
    }
    title = f"{data.season} season"
    html = render_html("season.html.j2", title=title, facts=facts, sections=sections)
    return Report(title, html, sections, facts)


def write_season(snapshot: Path, season: int | None, out_dir: Path, *, pdf: bool = True) -> Report:
    """Render season ``season`` (None = the newest) to ``<out_dir>/<season>.html`` and ``.pdf``."""
    season = season if season is not None else newest_season(snapshot)
    report = render_season(load_season(snapshot, season))
    stem = out_dir / str(season)
    report.files["html"] = write_atomically(stem.with_suffix(".html"), report.html)
    if pdf:
        report.files["pdf"] = write_atomically(stem.with_suffix(".pdf"), html_to_pdf(report.html))
    return report
