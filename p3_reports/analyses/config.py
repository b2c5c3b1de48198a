"""An analysis declared in YAML: what to ask the query engine, what to derive, what to write.

``load_analysis`` validates a document strictly and turns every problem into one line naming the
file, the line and what is allowed (``AnalysisConfigError``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from p3_query.expressions import ExpressionError, check_metric
from p3_query.registry import METRICS
from p3_query.spec import QuerySpec, SpecError, parse_spec, validate_spec

Output = Literal["csv", "parquet", "markdown", "chart", "html"]
OUTPUTS: tuple[Output, ...] = ("csv", "parquet", "markdown", "chart", "html")
SERIES_KINDS = ("rolling", "cumulative", "rank", "share", "difference")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEAM = re.compile(r"^team:[A-Za-z0-9_\-]+$")
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z]+$")
# Columns a result can have besides its metrics, by group key.
_KEY_COLUMNS = {
    "season": ("season",),
    "circuit": ("circuit_id", "circuit_ref", "circuit_name"),
    "entity": ("entity_id", "entity_ref", "entity_name"),
}


class AnalysisConfigError(ValueError):
    """An invalid analysis document: ``<file>:<line>: <what is wrong; what is allowed>``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = " ".join(message.split())
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {self.message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fallback(_Strict):
    """When the spec's ids are not in this snapshot (the demo data), use the top ``n`` entities
    by ``by`` over the spec's seasons instead, and say so."""

    n: int = Field(ge=1, le=8)
    by: str


class QueryEntry(_Strict):
    """One question: an inline query spec or a saved one (a .yaml/.json file beside the YAML)."""

    name: str = "rows"
    spec: dict[str, Any] | None = None
    saved: str | None = None
    fallback_top: Fallback | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QueryEntry:
        if (self.spec is None) == (self.saved is None):
            raise ValueError("give exactly one of spec (inline) or saved (a spec file)")
        if not _NAME.match(self.name):
            raise ValueError(f"query name {self.name!r} must be lowercase letters, digits, '_'")
        return self


class Series(_Strict):
    """A derived series computed on the result, per entity along the x column (season)."""

    name: str
    kind: Literal["rolling", "cumulative", "rank", "share", "difference"]
    column: str
    window: int | None = Field(default=None, ge=2, le=50)
    ascending: bool = False
    baseline: str | None = None

    @model_validator(mode="after")
    def _options(self) -> Series:
        if not _NAME.match(self.name):
            raise ValueError(f"series name {self.name!r} must be lowercase letters, digits, '_'")
        if (self.kind == "rolling") != (self.window is not None):
            raise ValueError("window (2..50) is given for, and only for, a rolling series")
        if (self.kind == "difference") != (self.baseline is not None):
            raise ValueError("baseline (an entity ref) is given for, and only for, a difference")
        return self


class Filter(_Strict):
    """Keep the rows whose ``column`` lies within [min, max] (applied before the series)."""

    column: str
    min: float | None = None
    max: float | None = None


class Bounds(_Strict):
    """The check's declared range of a column: every non-null value within [min, max]."""

    column: str
    min: float | None = None
    max: float | None = None


class Chart(_Strict):
    """A line (per entity along x) or bar chart of one column."""

    kind: Literal["line", "bar"] = "line"
    x: str = "season"
    y: str
    by: str | None = "entity_ref"
    title: str | None = None
    x_label: str | None = None
    y_label: str
    latest_only: bool = False  # bar charts: only the rows of the largest x


class Refresh(_Strict):
    """``after_publish`` (default) or a cron schedule (UTC)."""

    cron: str


class AnalysisConfig(_Strict):
    """A declared analysis (the ``attributes`` of an Analysis component's defs.yaml)."""

    name: str
    title: str
    description: str
    owners: list[str] = []
    queries: list[QueryEntry] = Field(min_length=1, max_length=12)
    custom_metrics: dict[str, str] = {}
    filters: list[Filter] = []
    series: list[Series] = []
    chart: Chart | None = None
    outputs: list[Output] = list(OUTPUTS)
    refresh: Literal["after_publish"] | Refresh = "after_publish"
    bounds: list[Bounds] = []

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"name {value!r} must be lowercase letters, digits and '_'")
        return value

    @field_validator("owners")
    @classmethod
    def _check_owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            if not (_EMAIL.match(owner) or _TEAM.match(owner)):
                raise ValueError(f"owner {owner!r} must be an email address or 'team:<name>'")
        return value

    @field_validator("refresh")
    @classmethod
    def _check_cron(cls, value: Any) -> Any:
        if isinstance(value, Refresh):
            fields = value.cron.split()
            if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
                raise ValueError(
                    f"cron {value.cron!r} is not a 5-field cron string like '0 7 * * 1'"
                )
        return value


def load_analysis(
    attributes: dict[str, Any], path: Path, lines: dict[tuple[Any, ...], int] | None = None
) -> tuple[AnalysisConfig, tuple[QuerySpec, ...]]:
    """Validate an analysis document and its query specs; AnalysisConfigError on any problem.

    ``lines`` maps key paths of the document to their line in ``path`` (``yaml_lines``).
    """
    lines = lines or {}

    def fail(loc: tuple[Any, ...], message: str) -> AnalysisConfigError:
        return AnalysisConfigError(path, line_of(lines, loc), message)

    try:
        config = AnalysisConfig.model_validate(attributes)
    except ValidationError as exc:
        error = exc.errors()[0]
        at = tuple(error["loc"])
        where = ".".join(str(p) for p in at)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = f"missing field {where!r}; {_fields_hint(at)}"
        elif error["type"] == "extra_forbidden":
            message = f"unknown field {where!r}; {_fields_hint(at)}"
        elif error["type"] == "literal_error":
            message = f"{where}: {message}"
        else:
            message = f"{where}: {message}" if where else message
        raise fail(at, message) from None

    specs: list[QuerySpec] = []
    for index, query in enumerate(config.queries):
        loc: tuple[Any, ...] = ("queries", index, "spec" if query.spec is not None else "saved")
        if query.saved is not None:
            saved = (path.parent / query.saved).resolve()
            if path.parent.resolve() not in saved.parents:
                raise fail(loc, f"saved spec {query.saved!r} must be a file beside {path.name}")
            try:
                data = parse_spec(saved).model_dump(exclude={"format"})
            except SpecError as exc:
                raise fail(loc, f"saved spec {query.saved}: {exc}") from None
        else:
            data = dict(query.spec or {})
        entity = data.get("entity")
        for name, expression in config.custom_metrics.items():
            if entity in ("driver", "constructor", "circuit", "race"):
                try:
                    check_metric(expression, entity)
                except ExpressionError as exc:
                    raise fail(
                        ("custom_metrics", name), f"custom metric {name!r}: {exc.one_line()}"
                    ) from None
        if config.custom_metrics:
            data["custom_metrics"] = [
                *data.get("custom_metrics", []),
                *({"name": n, "expression": e} for n, e in config.custom_metrics.items()),
            ]
        try:
            spec = validate_spec(data)
        except SpecError as exc:
            raise fail(
                _spec_field(loc, str(exc)), f"queries[{index}] ({query.name}): {exc}"
            ) from None
        specs.append(spec)
        if query.fallback_top and query.fallback_top.by not in _columns(spec):
            raise fail(
                ("queries", index, "fallback_top", "by"),
                f"fallback_top.by {query.fallback_top.by!r} is not a column of the query; "
                f"columns: {', '.join(_columns(spec))}",
            )

    _check_columns(config, specs, fail)
    return config, tuple(specs)


def _spec_field(loc: tuple[Any, ...], message: str) -> tuple[Any, ...]:
    """``loc`` down to the spec field the error names ("invalid query spec:\n  metrics: ...")."""
    lines = message.splitlines()
    if len(lines) > 1 and lines[0].startswith("invalid query spec"):
        field = lines[1].strip().split(":", 1)[0].split(".", 1)[0]
        if field in QuerySpec.model_fields:
            return (*loc, field)
    return loc


def _columns(spec: QuerySpec) -> tuple[str, ...]:
    keys = [
        c for k in ("season", "circuit", "entity") if k in spec.group_by for c in _KEY_COLUMNS[k]
    ]
    metrics = [m for m in spec.metrics if not METRICS[m].pairwise]
    return (*keys, *metrics, *(c.name for c in spec.custom_metrics))


def result_columns(config: AnalysisConfig, specs: tuple[QuerySpec, ...]) -> tuple[str, ...]:
    """Columns of the analysis table: every query's columns (plus ``query`` when there are
    several), then the derived series."""
    columns: list[str] = ["query"] if len(specs) > 1 else []
    for spec in specs:
        columns += [c for c in _columns(spec) if c not in columns]
    return (*columns, *(s.name for s in config.series))


def _check_columns(config: AnalysisConfig, specs: list[QuerySpec], fail: Any) -> None:
    base = result_columns(config, tuple(specs))[: -len(config.series) or None]
    available = list(base)
    for index, series in enumerate(config.series):
        if series.column not in available:
            raise fail(
                ("series", index, "column"),
                f"series {series.name!r}: unknown column {series.column!r}; "
                f"columns: {', '.join(available)}",
            )
        if series.name in available:
            raise fail(("series", index, "name"), f"series name {series.name!r} is taken")
        available.append(series.name)
    checks: list[tuple[tuple[Any, ...], str]] = [
        (("filters", i, "column"), f.column) for i, f in enumerate(config.filters)
    ] + [(("bounds", i, "column"), b.column) for i, b in enumerate(config.bounds)]
    if config.chart:
        checks += [(("chart", "x"), config.chart.x), (("chart", "y"), config.chart.y)]
        if config.chart.by:
            checks.append((("chart", "by"), config.chart.by))
    for loc, column in checks:
        if column not in available:
            raise fail(loc, f"unknown column {column!r}; columns: {', '.join(available)}")
    if "chart" in config.outputs and config.chart is None:
        raise fail(("outputs",), "output 'chart' needs a chart section (kind, x, y, y_label)")


def _fields_hint(loc: tuple[Any, ...]) -> str:
    models: dict[str, type[BaseModel]] = {
        "queries": QueryEntry,
        "series": Series,
        "filters": Filter,
        "bounds": Bounds,
        "chart": Chart,
        "refresh": Refresh,
        "fallback_top": Fallback,
    }
    model: type[BaseModel] = AnalysisConfig
    for part in loc[:-1]:
        if isinstance(part, str) and part in models:
            model = models[part]
    fields = list(model.model_fields)
    if model is AnalysisConfig:
        fields.remove("name")  # taken from the folder when absent
    return f"fields are: {', '.join(fields)}"


def line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key path of ``loc`` present in the document."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
