"""Matplotlib figures for MLflow and Dagster metadata, drawn without pyplot (Agg canvas, no display)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 7.0, height: float = 4.5) -> Figure:
    """A figure bound to the Agg canvas, so it renders in a headless worker."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def markdown_image(figure: Figure, alt: str) -> str:
    """Markdown with the figure embedded as a base64 PNG (for Dagster markdown metadata)."""
    encoded = base64.b64encode(png_bytes(figure)).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"


def feature_importance_figure(importance: pd.DataFrame, top: int = 20) -> Figure:
    """Horizontal bars of the order model's normalised split gain, largest on top."""
    shown = importance.sort_values("order", ascending=True).tail(top)
    figure = new_figure(7, max(3.0, 0.28 * len(shown) + 1))
    axes = figure.add_subplot()
    axes.barh(shown.index, shown["order"], color="#1f77b4", label="order score")
    axes.scatter(shown["podium"], shown.index, color="#d62728", s=12, label="podium", zorder=3)
    axes.set_xlabel("share of split gain")
    axes.set_title("Feature importance")
    axes.legend(loc="lower right")
    return figure


def calibration_figure(predictions: pd.DataFrame, bins: int = 10) -> Figure:
    """Reliability diagram of the podium probability for each predictor on the held-out seasons."""
    figure = new_figure(6, 5)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    edges = np.linspace(0, 1, bins + 1)
    for name, rows in predictions.groupby("predictor", sort=False):
        binned = rows.assign(bin=pd.cut(rows["podium_prob"], edges, include_lowest=True))
        table = binned.groupby("bin", observed=True).agg(
            predicted=("podium_prob", "mean"), observed=("is_podium", "mean")
        )
        axes.plot(table["predicted"], table["observed"], marker="o", label=str(name))
    axes.set_xlabel("predicted podium probability")
    axes.set_ylabel("observed podium frequency")
    axes.set_title("Podium probability calibration (held-out seasons)")
    axes.legend(loc="upper left")
    return figure


def season_metric_figure(summary: pd.DataFrame, metric: str) -> Figure:
    """Grouped bars of one metric per held-out season for the model and the baselines."""
    table = summary[summary["season"] != "overall"].pivot(
        index="season", columns="predictor", values=metric
    )
    figure = new_figure(7, 4)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(table.columns))
    positions = np.arange(len(table.index))
    for i, predictor in enumerate(table.columns):
        axes.bar(positions + i * width, table[predictor], width, label=str(predictor))
    axes.set_xticks(positions + width * (len(table.columns) - 1) / 2, table.index)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} by held-out season")
    axes.legend()
    return figure
