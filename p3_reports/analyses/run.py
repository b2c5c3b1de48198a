"""Run a declared analysis on the published snapshot: query, derive, chart, write the outputs."""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from p3_query.engine import Engine, Lease
from p3_query.spec import QuerySpec

from ..charts import data_uri, empty_figure, figure_bytes, new_figure
from ..colours import TEAM_COLOURS, colours_for
from .config import AnalysisConfig, Chart, QueryEntry
from .series import add_series, apply_filters

PREVIEW_ROWS = 10


@dataclass(frozen=True)
class CheckOutcome:
    """Whether the result is non-empty and within the declared bounds, and why not."""

    passed: bool
    rows: int
    problems: tuple[str, ...]


@dataclass
class AnalysisRun:
    """What one run of an analysis produced."""

    config: AnalysisConfig
    build_id: str
    table: pd.DataFrame
    sql: dict[str, str]
    plans: dict[str, str]
    notes: list[str]
    figure: Figure | None
    files: dict[str, Path] = field(default_factory=dict)
    check: CheckOutcome = CheckOutcome(True, 0, ())

    def preview_markdown(self) -> str:
        """The first rows as a Markdown table."""
        if self.table.empty:
            return "_no rows_"
        return str(self.table.head(PREVIEW_ROWS).to_markdown(index=False, floatfmt=".3g"))


def run_analysis(
    config: AnalysisConfig, specs: tuple[QuerySpec, ...], engine: Engine, out_dir: Path
) -> AnalysisRun:
    """Answer every query on one build, derive the series, check, chart and write the outputs.

    Files are written to a temporary folder and moved into ``out_dir`` one by one with
    ``os.replace``, so a failed run leaves the previous outputs as they were.
    """
    frames: list[pd.DataFrame] = []
    sql: dict[str, str] = {}
    plans: dict[str, str] = {}
    notes: list[str] = []
    with engine.lease() as lease:
        build_id = lease.build_id
        for query, spec in zip(config.queries, specs, strict=True):
            spec = _with_fallback(lease, query, spec, notes)
            plan = lease.plan(spec)
            sql[query.name] = plan.main.sql
            plans[query.name] = plan.explain_text()
            frame = lease.execute(spec).tables["rows"].to_pandas()
            if len(specs) > 1:
                frame.insert(0, "query", query.name)
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = apply_filters(table, config.filters)
    x = config.chart.x if config.chart else "season"
    table = add_series(table, config.series, x=x)
    # Read along x first (a season's rows together), as the charts and a reader do.
    order = [c for c in ("query", x, "entity_name") if c in table.columns]
    if order:
        table = table.sort_values(order, kind="stable").reset_index(drop=True)
    run = AnalysisRun(config, build_id, table, sql, plans, notes, None)
    run.check = check_result(config, table)
    if config.chart is not None:
        run.figure = chart(config.title, config.chart, table)
    run.files = write_outputs(run, out_dir)
    return run


def _with_fallback(lease: Lease, query: QueryEntry, spec: QuerySpec, notes: list[str]) -> QuerySpec:
    """The spec, or with the top entities instead when its refs are not in this snapshot."""
    if not spec.ids or query.fallback_top is None:
        return spec
    dim = lease.catalog.dims[spec.entity]
    missing = [i for i in spec.ids if isinstance(i, str) and i not in dim.by_ref]
    if not missing:
        return spec
    fallback = query.fallback_top
    everyone = spec.model_copy(update={"ids": (), "order_by": (), "limit": 10_000})
    table = lease.execute(everyone).tables["rows"].to_pandas()
    totals = table.groupby("entity_id")[fallback.by].sum().sort_values(ascending=False)
    top = [int(i) for i in totals.head(fallback.n).index]
    notes.append(
        f"{query.name}: {', '.join(missing)} not in this snapshot; used the top {len(top)} "
        f"by {fallback.by} instead"
    )
    # No entity has rows here (a decade before the data starts): the answer is empty either way.
    return spec.with_ids(top) if top else everyone


def check_result(config: AnalysisConfig, table: pd.DataFrame) -> CheckOutcome:
    """Non-empty, and every non-null value of each bounded column within its range."""
    problems: list[str] = []
    if table.empty:
        problems.append("the result has no rows")
    for bounds in config.bounds:
        values = pd.to_numeric(table[bounds.column], errors="coerce").dropna()
        low = values < bounds.min if bounds.min is not None else values < float("-inf")
        high = values > bounds.max if bounds.max is not None else values > float("inf")
        outside = values[low | high]
        if len(outside):
            problems.append(
                f"{len(outside)} value(s) of {bounds.column} outside "
                f"[{bounds.min}, {bounds.max}], e.g. {outside.iloc[0]:.4g}"
            )
    return CheckOutcome(not problems, len(table), tuple(problems))


def chart(title: str, spec: Chart, table: pd.DataFrame) -> Figure:
    """The declared chart: one line per entity along x, or bars of the latest x."""
    rows = table.dropna(subset=[spec.y])
    if spec.latest_only and spec.x in rows and not rows.empty:
        rows = rows[rows[spec.x] == rows[spec.x].max()]
    label = spec.title or title
    if rows.empty:
        return empty_figure(label, f"no values of {spec.y} to plot")
    figure = new_figure(8, 4.5)
    axes = figure.add_subplot()
    if spec.kind == "bar":
        names = rows[spec.by].astype(str).tolist() if spec.by else [str(v) for v in rows[spec.x]]
        refs = rows["entity_ref"].astype(str).tolist() if "entity_ref" in rows else names
        values = rows[spec.y].astype(float).to_numpy()
        order = values.argsort()
        if any(ref in TEAM_COLOURS for ref in refs):
            colours = colours_for(refs)
            bar_colours = [colours[refs[i]] for i in order]
        else:
            # Drivers and circuits have no livery: colour by sign, which is what a reader scans for.
            bar_colours = ["#2CA02C" if values[i] >= 0 else "#D62728" for i in order]
        axes.barh([names[i] for i in order], values[order], color=bar_colours)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(spec.y_label)
        axes.set_ylabel(spec.x_label or (spec.by or spec.x).replace("_", " "))
        if spec.latest_only and spec.x in rows:
            label += f" ({rows[spec.x].iloc[0]})"
    else:
        groups: list[tuple[str, str, pd.DataFrame]] = []
        if spec.by and spec.by in rows:
            for key, group in rows.groupby(spec.by, sort=True):
                ref = str(group["entity_ref"].iloc[0]) if "entity_ref" in group else str(key)
                groups.append((str(key), ref, group))
        else:
            groups.append((spec.y, spec.y, rows))
        colours = colours_for([ref for _, ref, _ in groups])
        for name, ref, group in groups:
            group = group.sort_values(spec.x)
            axes.plot(
                group[spec.x],
                group[spec.y].astype(float),
                marker="o",
                markersize=3,
                linewidth=1.6,
                label=name,
                color=colours[ref],
            )
        if len(groups) > 1:
            axes.legend(fontsize=8, ncols=2 if len(groups) > 6 else 1, frameon=False)
        axes.set_xlabel(spec.x_label or spec.x.replace("_", " "))
        axes.set_ylabel(spec.y_label)
        axes.grid(alpha=0.3)
    axes.set_title(label)
    return figure


def write_outputs(run: AnalysisRun, out_dir: Path) -> dict[str, Path]:
    """The declared outputs in ``out_dir`` (``<name>.csv``, ``.parquet``, ``.md``, ``.png``,
    ``.svg``, ``.html``), each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = run.config.name
    outputs = set(run.config.outputs)
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tmp-") as scratch:
        staged: dict[str, Path] = {}

        def stage(kind: str, suffix: str, data: bytes | str) -> None:
            path = Path(scratch) / f"{name}{suffix}"
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
            staged[kind] = path

        if "csv" in outputs:
            stage("csv", ".csv", run.table.to_csv(index=False))
        if "parquet" in outputs:
            path = Path(scratch) / f"{name}.parquet"
            run.table.to_parquet(path, index=False)
            staged["parquet"] = path
        if "markdown" in outputs:
            stage("markdown", ".md", _markdown(run))
        if "chart" in outputs and run.figure is not None:
            stage("png", ".png", figure_bytes(run.figure, "png"))
            stage("svg", ".svg", figure_bytes(run.figure, "svg"))
        if "html" in outputs:
            stage("html", ".html", html_fragment(run))
        for kind, path in staged.items():
            target = out_dir / path.name
            os.replace(path, target)
            written[kind] = target
    return written


def _markdown(run: AnalysisRun) -> str:
    table = (
        run.table.to_markdown(index=False, floatfmt=".4g") if not run.table.empty else "_no rows_"
    )
    return f"# {run.config.title}\n\n{run.config.description.strip()}\n\n{table}\n"


def html_fragment(run: AnalysisRun) -> str:
    """A self-contained ``<section>``: title, description, the chart (SVG) and the table."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("p3_reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    template = env.get_template("analysis_fragment.html.j2")
    return template.render(
        config=run.config,
        build_id=run.build_id,
        chart_uri=data_uri(run.figure, "svg") if run.figure is not None else None,
        table_html=run.table.head(200).to_html(index=False, na_rep="", float_format=_fmt),
        notes=run.notes,
    )


def _fmt(value: Any) -> str:
    return html.escape(f"{value:.4g}")
