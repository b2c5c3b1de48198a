"""The post-race report's figures: positions lap by lap, lap-time distributions, the pit-stop
timeline, places gained and lost, and the model's prediction against the result."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .charts import new_figure
from .colours import colours_for
from .race_data import RaceData

# Laps slower than this multiple of the driver's median are safety-car, incident or slow laps,
# which would squash the distributions of racing laps.
SLOW_LAP_FACTOR = 1.15


def _driver_colours(data: RaceData, refs: list[str]) -> dict[str, str]:
    return colours_for(refs, data.teams)


def _label(data: RaceData) -> dict[str, str]:
    """Driver ref -> three-letter code (or surname) for compact axes."""
    out: dict[str, str] = {}
    for row in data.results.itertuples():
        code = row.driver_code if isinstance(row.driver_code, str) and row.driver_code else None
        out[row.driver_ref] = code or str(row.driver_name).split()[-1]
    return out


def position_chart(data: RaceData) -> Figure | None:
    """Running position of every driver at the end of each lap (grid at lap 0)."""
    if data.laps.empty:
        return None
    order = [r for r in data.results["driver_ref"] if r in set(data.laps["driver_ref"])]
    colours = _driver_colours(data, order)
    labels = _label(data)
    grid = dict(zip(data.results["driver_ref"], data.results["grid"], strict=True))
    figure = new_figure(10, 6)
    axes = figure.add_subplot()
    styles: dict[str, str] = {}
    for ref in order:
        team = data.teams.get(ref)
        # Team-mates share a colour: the second car of a team is dashed.
        styles[ref] = "--" if team in {data.teams.get(r) for r in styles} else "-"
        laps = data.laps[data.laps["driver_ref"] == ref].sort_values("lap")
        x = laps["lap"].tolist()
        y = laps["position"].tolist()
        if grid.get(ref, 0) and grid[ref] > 0:
            x, y = [0, *x], [grid[ref], *y]
        axes.plot(x, y, styles[ref], color=colours[ref], linewidth=1.4)
        axes.annotate(
            labels[ref],
            (x[-1], y[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
            color=colours[ref],
        )
    axes.invert_yaxis()
    axes.set_yticks(range(1, int(data.laps["position"].max()) + 1))
    axes.set_xlabel("lap (0 = grid)")
    axes.set_ylabel("position")
    axes.set_title(f"{data.race.race_name} {data.race.season}: position by lap")
    axes.grid(alpha=0.25)
    return figure


def lap_time_chart(data: RaceData) -> Figure | None:
    """Box plots of each classified driver's racing laps (pit in/out and the first lap out)."""
    if data.laps.empty:
        return None
    laps = data.laps[
        ~(data.laps["is_pit_in_lap"] | data.laps["is_pit_out_lap"] | data.laps["is_first_lap"])
    ].dropna(subset=["lap_time_ms"])
    order = [r for r in data.results["driver_ref"] if r in set(laps["driver_ref"])]
    series: list[np.ndarray] = []
    kept: list[str] = []
    for ref in order:
        times = laps.loc[laps["driver_ref"] == ref, "lap_time_ms"].to_numpy(dtype=float) / 1000
        if len(times) < 3:
            continue
        series.append(times[times <= np.median(times) * SLOW_LAP_FACTOR])
        kept.append(ref)
    if not series:
        return None
    colours = _driver_colours(data, kept)
    labels = _label(data)
    figure = new_figure(10, 4.8)
    axes = figure.add_subplot()
    boxes = axes.boxplot(series, patch_artist=True, showfliers=False, widths=0.6)
    for patch, ref in zip(boxes["boxes"], kept, strict=True):
        patch.set_facecolor(colours[ref])
        patch.set_alpha(0.75)
    axes.set_xticks(range(1, len(kept) + 1), [labels[r] for r in kept], rotation=60, fontsize=7)
    axes.set_xlabel("driver (finishing order)")
    axes.set_ylabel("lap time (s)")
    axes.set_title(
        f"Lap times of racing laps (pit laps, lap 1 and laps > {SLOW_LAP_FACTOR:.0%} of the "
        "driver's median left out)"
    )
    axes.grid(axis="y", alpha=0.25)
    return figure


def pit_stop_chart(data: RaceData) -> Figure | None:
    """Each stop at its lap, one row per driver, labelled with its pit-lane time."""
    if data.pit_stops.empty:
        return None
    order = [r for r in data.results["driver_ref"] if r in set(data.pit_stops["driver_ref"])]
    colours = _driver_colours(data, order)
    labels = _label(data)
    rows = {ref: len(order) - i for i, ref in enumerate(order)}
    figure = new_figure(10, max(3.0, 0.32 * len(order) + 1.2))
    axes = figure.add_subplot()
    for stop in data.pit_stops.itertuples():
        if stop.driver_ref not in rows:
            continue
        y = rows[stop.driver_ref]
        axes.scatter(stop.lap, y, s=40, color=colours[stop.driver_ref], zorder=3)
        if stop.duration_ms == stop.duration_ms and stop.duration_ms is not None:
            axes.annotate(
                f"{stop.duration_ms / 1000:.1f}s",
                (stop.lap, y),
                xytext=(0, 6),
                textcoords="offset points",
                fontsize=6,
                ha="center",
            )
    axes.set_yticks(list(rows.values()), [labels[r] for r in rows])
    axes.set_xlim(0, max(data.laps_completed, int(data.pit_stops["lap"].max())) + 1)
    axes.set_xlabel("lap")
    axes.set_ylabel("driver (finishing order)")
    axes.set_title("Pit stops (label: pit-lane time in seconds)")
    axes.grid(axis="x", alpha=0.25)
    return figure


def positions_gained_chart(data: RaceData) -> Figure | None:
    """Places gained (+) or lost (-) from the grid to the flag, classified starters only."""
    rows = data.results[(data.results["grid"] > 0) & data.results["is_classified"]]
    rows = rows.dropna(subset=["positions_gained"])
    if rows.empty:
        return None
    labels = _label(data)
    refs = rows["driver_ref"].tolist()
    gained = rows["positions_gained"].astype(float).tolist()
    figure = new_figure(10, max(3.0, 0.3 * len(refs) + 1.2))
    axes = figure.add_subplot()
    axes.barh(
        [labels[r] for r in refs][::-1],
        gained[::-1],
        color=["#2CA02C" if g > 0 else "#D62728" if g < 0 else "#7F7F7F" for g in gained][::-1],
    )
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("places gained from grid to finish")
    axes.set_ylabel("driver (finishing order)")
    axes.set_title("Positions gained and lost")
    axes.grid(axis="x", alpha=0.25)
    return figure


def prediction_chart(data: RaceData) -> Figure | None:
    """Predicted rank against the actual finishing rank (on the diagonal = exact)."""
    rows = (
        data.predictions.dropna(subset=["predicted_rank", "actual_rank"])
        if len(data.predictions)
        else pd.DataFrame()
    )
    if rows.empty:
        return None
    figure = new_figure(6, 5)
    axes = figure.add_subplot()
    top = int(max(rows["predicted_rank"].max(), rows["actual_rank"].max()))
    axes.plot([1, top], [1, top], color="#999999", linewidth=1, linestyle="--")
    axes.scatter(rows["predicted_rank"], rows["actual_rank"], color="#1F77B4", zorder=3)
    for row in rows.itertuples():
        axes.annotate(
            str(row.driver_name).split()[-1],
            (row.predicted_rank, row.actual_rank),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=6,
        )
    axes.invert_xaxis()
    axes.invert_yaxis()
    axes.set_xlabel("predicted rank")
    axes.set_ylabel("actual finishing rank")
    axes.set_title("The model's prediction against the result")
    return figure
