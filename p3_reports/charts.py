"""Matplotlib figures without pyplot (Agg canvas), and their PNG, SVG and Markdown forms."""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 8.0, height: float = 4.5) -> Figure:
    """A figure bound to the Agg canvas, so it renders in a headless worker."""
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure as ``png`` or ``svg`` bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def data_uri(figure: Figure, fmt: str = "png") -> str:
    """A ``data:`` URI of the figure (embedded in HTML and Markdown)."""
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(figure_bytes(figure, fmt)).decode('ascii')}"


def markdown_image(figure: Figure, alt: str) -> str:
    """Markdown with the figure embedded as a base64 PNG (Dagster markdown metadata)."""
    return f"![{alt}]({data_uri(figure, 'png')})"


def empty_figure(title: str, message: str) -> Figure:
    """A small figure that says why there is nothing to plot."""
    figure = new_figure(8, 1.6)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.4, message, ha="center", va="center", fontsize=11, color="#555555")
    return figure
