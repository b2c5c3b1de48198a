"""The query spec: a validated, normalised document describing one analytical question."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from p3_common.settings import parse_seasons

from .expressions import CustomMetric, ExpressionError, check_metric, normalise_custom_metrics
from .registry import (
    ENTITIES,
    GROUP_KEYS,
    METRICS,
    Entity,
    GroupKey,
    answering_formulas,
    base_metrics,
    entities_of,
    metrics_for,
)

OutputFormat = Literal["json", "csv", "parquet", "arrow", "markdown"]
OUTPUT_FORMATS: tuple[str, ...] = ("json", "csv", "parquet", "arrow", "markdown")

MAX_IDS = 50
MAX_COMPARED = 8  # 28 pairs
MAX_METRICS = 20
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
SIMPLE_STATISTICS = ("mean", "median", "stddev", "min", "max", "trend")

# A ref is an Ergast reference ("ferrari", "max_verstappen", "cooper-climax") or, for races,
# "<season>-<round>". Nothing else can be an id: that is the first line against injection.
_REF = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_PERCENTILE = re.compile(r"^p([1-9][0-9]?)$")
_CORRELATION = re.compile(r"^correlation:([a-z_]+):([a-z_]+)$")
_NAME = re.compile(r"^[a-z_]{1,40}$")


class SpecError(ValueError):
    """An invalid query spec; the message says what is wrong and what is allowed."""


class QuerySpec(BaseModel):
    """One analytical question, validated and normalised.

    Normalisation makes equivalent specs equal: ids are deduplicated and sorted (refs lowercased,
    digit strings turned into integers), seasons are expanded to a sorted tuple, group keys and
    statistics are put in a canonical order, and defaults are filled. ``query_hash`` is computed
    from that normal form, so key order and spelling variants do not change it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: Entity = Field(description="What the ids are: driver, constructor, circuit or race.")
    ids: tuple[int | str, ...] = Field(
        default=(),
        description="Entity ids or refs (e.g. 'ferrari', 6); empty = every entity.",
    )
    seasons: tuple[int, ...] | None = Field(
        default=None,
        description="Seasons: '1980-2024', [2019, 2021], {'from': 1980, 'to': 2024}; null = all.",
    )
    metrics: tuple[str, ...] = Field(description="Metric names from the registry.")
    custom_metrics: tuple[CustomMetric, ...] = Field(
        default=(),
        description="Metrics defined by expressions over registry metrics, "
        "e.g. {'points_per_start': 'points / starts'}; returned after the registry metrics.",
    )
    group_by: tuple[GroupKey, ...] = Field(
        default=("entity",), description="Any of season, entity, circuit."
    )
    statistics: tuple[str, ...] = Field(
        default=(),
        description="mean, median, stddev, min, max, p1..p99, trend, "
        "{'correlation': [metric, metric]}.",
    )
    compare: bool = Field(default=False, description="Pairwise comparison of the ids.")
    order_by: tuple[str, ...] = Field(
        default=(), description="Fields to sort by: 'wins' ascending, '-wins' descending."
    )
    limit: int = Field(default=DEFAULT_LIMIT, description=f"Rows returned, 1..{MAX_LIMIT}.")
    format: OutputFormat = Field(default="json", description="Output format (not in the hash).")

    # --- field normalisation --------------------------------------------------------------------

    @field_validator("ids", mode="before")
    @classmethod
    def _normalise_ids(cls, value: Any) -> tuple[int | str, ...]:
        if value is None:
            return ()
        items = [value] if isinstance(value, (str, int)) else list(value)
        if len(items) > MAX_IDS:
            raise ValueError(f"{len(items)} ids given; at most {MAX_IDS} are allowed")
        ids: set[int | str] = set()
        for item in items:
            if isinstance(item, bool):
                raise ValueError(f"id {item!r} is not an integer id or a ref")
            if isinstance(item, int):
                if item < 1:
                    raise ValueError(f"id {item} is not a valid id (ids are positive integers)")
                ids.add(item)
                continue
            if not isinstance(item, str):
                raise ValueError(f"id {item!r} is not an integer id or a ref")
            text = item.strip().lower()
            if text.isdigit():
                ids.add(int(text))
            elif _REF.match(text):
                ids.add(text)
            else:
                raise ValueError(
                    f"id {item!r} is not an integer id or a ref (refs are letters, digits, '_' "
                    "and '-', e.g. 'ferrari', 'max_verstappen', or '2024-5' for a race)"
                )
        return tuple(sorted(ids, key=lambda i: (isinstance(i, str), i)))

    @field_validator("seasons", mode="before")
    @classmethod
    def _normalise_seasons(cls, value: Any) -> tuple[int, ...] | None:
        if isinstance(value, dict):
            unknown = set(value) - {"from", "to"}
            if unknown or "from" not in value:
                raise ValueError("a season range object is {'from': 1980, 'to': 2024}")
            value = f"{value['from']}-{value.get('to', value['from'])}"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, (list, tuple)) and len(value) == 0:
            raise ValueError("the season list is empty; give seasons or null for every season")
        if isinstance(value, (list, tuple)) and not all(
            isinstance(v, (int, str)) and not isinstance(v, bool) for v in value
        ):
            raise ValueError("seasons are years (1950 on) or ranges like '1980-2024'")
        return parse_seasons(value)

    @field_validator("metrics", mode="before")
    @classmethod
    def _normalise_metrics(cls, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else list(value or ())
        # No metric at all is refused after validation: custom metrics may stand alone.
        if len(items) > MAX_METRICS:
            raise ValueError(f"{len(items)} metrics given; at most {MAX_METRICS} are allowed")
        names: list[str] = []
        for item in items:
            name = str(item).strip().lower()
            if name not in METRICS:
                raise ValueError(
                    f"unknown metric {str(item)[:60]!r}; metrics are: {', '.join(METRICS)}"
                )
            if name not in names:
                names.append(name)
        # Registry order, so ['wins', 'poles'] and ['poles', 'wins'] are the same query.
        return tuple(m for m in METRICS if m in names)

    @field_validator("custom_metrics", mode="before")
    @classmethod
    def _normalise_custom_metrics(cls, value: Any) -> tuple[Any, ...]:
        return normalise_custom_metrics(value)

    @field_validator("group_by", mode="before")
    @classmethod
    def _normalise_group_by(cls, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else list(value or ())
        if not items:
            raise ValueError(f"group by at least one of {', '.join(GROUP_KEYS)}")
        keys = {str(i).strip().lower() for i in items}
        unknown = keys - set(GROUP_KEYS)
        if unknown:
            bad = sorted(unknown)[0][:40]
            raise ValueError(f"cannot group by {bad!r}; group keys are {', '.join(GROUP_KEYS)}")
        return tuple(k for k in GROUP_KEYS if k in keys)

    @field_validator("statistics", mode="before")
    @classmethod
    def _normalise_statistics(cls, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, (str, dict)) else list(value or ())
        found: set[str] = set()
        for item in items:
            found.add(_statistic_name(item))
        return tuple(sorted(found, key=_statistic_order))

    @field_validator("order_by", mode="before")
    @classmethod
    def _normalise_order_by(cls, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, (str, dict)) else list(value or ())
        fields: list[str] = []
        for item in items:
            if isinstance(item, dict):
                unknown = set(item) - {"field", "descending"}
                if unknown or "field" not in item:
                    raise ValueError("an order item is 'wins', '-wins' or {'field', 'descending'}")
                name, descending = str(item["field"]), bool(item.get("descending", False))
            else:
                text = str(item).strip()
                words = text.split()
                if len(words) == 2 and words[1].lower() in {"asc", "desc"}:
                    name, descending = words[0], words[1].lower() == "desc"
                else:
                    descending = text.startswith("-")
                    name = text.lstrip("-+")
            name = name.strip().lower()
            if not _NAME.match(name):
                raise ValueError(f"cannot order by {name[:60]!r}: not a field name")
            if any(f.lstrip("-") == name for f in fields):
                continue
            fields.append(f"-{name}" if descending else name)
        return tuple(fields)

    @field_validator("limit", mode="before")
    @classmethod
    def _check_limit(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            else:
                raise ValueError(f"limit must be an integer between 1 and {MAX_LIMIT}")
        if not 1 <= value <= MAX_LIMIT:
            raise ValueError(f"limit {value} is out of range; use 1..{MAX_LIMIT}")
        return value

    # --- cross-field rules ------------------------------------------------------------------------

    @model_validator(mode="after")
    def _check_consistency(self) -> QuerySpec:
        group_by = frozenset(self.group_by)
        allowed = metrics_for(self.entity)
        if not self.metrics and not self.custom_metrics:
            raise ValueError("metrics: ask for at least one metric (or a custom metric)")
        self._check_custom_metrics()
        for name in self.metrics:
            if self.entity not in entities_of(name):
                raise ValueError(
                    f"metric {name!r} is not available for entity {self.entity!r} (it exists for "
                    f"{', '.join(entities_of(name))}); metrics for {self.entity}: "
                    f"{', '.join(allowed)}"
                )
        if self.entity == "circuit" and "circuit" in group_by:
            raise ValueError("entity circuit is already per circuit: group by entity, not circuit")
        if self.entity == "race" and "circuit" in group_by:
            raise ValueError("a race is at one circuit: group races by season or entity")
        pairwise = [m for m in self.metrics if METRICS[m].pairwise]
        if pairwise and not self.compare:
            raise ValueError(
                f"{pairwise[0]} is pairwise: set compare to true and give at least two ids"
            )
        if pairwise and len(pairwise) == len(self.metrics) and self.statistics:
            raise ValueError("statistics need a non-pairwise metric")
        if self.compare:
            if len(self.ids) < 2 or len(self.ids) > MAX_COMPARED:
                raise ValueError(f"compare needs 2..{MAX_COMPARED} ids; {len(self.ids)} given")
            if "entity" not in group_by or "circuit" in group_by:
                raise ValueError(
                    "compare works per entity, overall or per season: group_by must be "
                    "[entity] or [season, entity]"
                )
        self._check_answerable(group_by)
        self._check_statistics(group_by)
        self._check_order_by(group_by)
        return self

    def _check_custom_metrics(self) -> None:
        if self.custom_metrics and self.compare:
            raise ValueError(
                "custom metrics are not compared pairwise; compare the registry metrics they use"
            )
        for custom in self.custom_metrics:
            try:
                check_metric(custom.expression, self.entity)
            except ExpressionError as exc:
                raise ValueError(f"custom metric {custom.name!r}: {exc}") from None

    def custom_inputs(self) -> tuple[str, ...]:
        """Registry metrics the custom metrics read (not already among ``metrics``)."""
        found: list[str] = []
        for custom in self.custom_metrics:
            for name in check_metric(custom.expression, self.entity).metrics:
                if name not in self.metrics and name not in found:
                    found.append(name)
        return tuple(found)

    def _check_answerable(self, group_by: frozenset[str]) -> None:
        for name in self.metrics + self.custom_inputs():
            if METRICS[name].pairwise:
                continue
            for base in base_metrics(name):
                usable, reasons = answering_formulas(
                    base, self.entity, group_by, self.seasons is not None
                )
                if not usable:
                    raise ValueError(
                        f"metric {name!r} cannot be answered for {self.entity} grouped by "
                        f"{', '.join(self.group_by)}"
                        + (" with a season filter" if self.seasons else "")
                        + f": {'; '.join(reasons)}"
                    )

    def _check_statistics(self, group_by: frozenset[str]) -> None:
        for statistic in self.statistics:
            if statistic == "trend" and "season" not in group_by:
                raise ValueError(
                    "the trend statistic (slope across seasons) needs season in group_by"
                )
            match = _CORRELATION.match(statistic)
            if match:
                for name in match.groups():
                    if name not in self.metrics or METRICS[name].pairwise:
                        raise ValueError(
                            f"correlation metric {name!r} must be one of the query's metrics "
                            f"({', '.join(self.metrics)})"
                        )

    def _check_order_by(self, group_by: frozenset[str]) -> None:
        allowed = (
            [k for k in GROUP_KEYS if k in group_by]
            + [m for m in self.metrics if not METRICS[m].pairwise]
            + [c.name for c in self.custom_metrics]
        )
        for item in self.order_by:
            if item.lstrip("-") not in allowed:
                raise ValueError(
                    f"cannot order by {item.lstrip('-')!r}; order by one of {', '.join(allowed)}"
                )

    # --- identity -----------------------------------------------------------------------------------

    def canonical_json(self) -> str:
        """The normal form as compact JSON with sorted keys (the output format left out)."""
        # Without custom metrics the field is left out, so existing hashes (cache keys) hold.
        skipped = {"format"} | (set() if self.custom_metrics else {"custom_metrics"})
        body = self.model_dump(mode="json", exclude=skipped)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @property
    def query_hash(self) -> str:
        """sha256 of the canonical JSON: the cache key part that identifies the question."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def has_refs(self) -> bool:
        """True while some ids are refs still to be resolved against the dims."""
        return any(isinstance(i, str) for i in self.ids)

    def with_ids(self, ids: list[int]) -> QuerySpec:
        """The same spec with resolved integer ids (normalised again)."""
        return QuerySpec.model_validate(self.model_dump() | {"ids": ids})


def _statistic_name(item: Any) -> str:
    if isinstance(item, dict):
        if set(item) != {"correlation"}:
            raise ValueError("a statistic object is {'correlation': [metric_a, metric_b]}")
        pair = item["correlation"]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError("correlation takes exactly two metrics")
        a, b = (str(p).strip().lower() for p in pair)
        if a == b:
            raise ValueError("correlation needs two different metrics")
        a, b = sorted((a, b))
        name = f"correlation:{a}:{b}"
        if not _CORRELATION.match(name):
            raise ValueError(f"correlation metrics must be metric names, got {pair!r}"[:120])
        return name
    text = str(item).strip().lower()
    if text in SIMPLE_STATISTICS or _PERCENTILE.match(text):
        return text
    match = _CORRELATION.match(text)
    if match:
        a, b = sorted(match.groups())
        if a == b:
            raise ValueError("correlation needs two different metrics")
        return f"correlation:{a}:{b}"
    raise ValueError(
        f"unknown statistic {text[:60]!r}; statistics are {', '.join(SIMPLE_STATISTICS)}, "
        "p1..p99 (percentiles) and {'correlation': [metric_a, metric_b]}"
    )


def _statistic_order(name: str) -> tuple[int, int, str]:
    if name in SIMPLE_STATISTICS:
        return (0, SIMPLE_STATISTICS.index(name), "")
    match = _PERCENTILE.match(name)
    if match:
        return (1, int(match.group(1)), "")
    return (2, 0, name)


# Limits checked before validation, so a hostile spec fails fast with one line instead of
# exhausting memory or CPU (a YAML alias bomb, 300k unknown keys, JSON nested 100k deep).
MAX_SPEC_BYTES = 64 * 1024  # a real spec is a few hundred bytes
MAX_SPEC_DEPTH = 8  # spec -> statistics -> {correlation: [...]} is 3 levels
MAX_SPEC_ALIASES = 16  # YAML aliases (*name); anchors are rarely useful in a spec
MAX_SPEC_NODES = 2_000  # keys + list items + scalars after alias expansion
MAX_SPEC_FIELDS = 32  # top-level keys; a spec has 10 fields


def parse_spec(source: str | Path | dict[str, Any]) -> QuerySpec:
    """A spec from a dict, JSON text, or a path to a .json/.yaml/.yml file; SpecError if invalid.

    Size, nesting depth, YAML aliases and the number of keys and items are limited
    (``MAX_SPEC_*``) before any validation runs; each violation is one line.
    """
    data: Any = source
    if isinstance(source, Path) or (
        isinstance(source, str)
        and not source.lstrip().startswith("{")
        and source.strip().lower().endswith((".json", ".yaml", ".yml"))
    ):
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"spec file not found: {path}")
        text = _read_text(path)
        if path.suffix.lower() in {".yaml", ".yml"}:
            data = _yaml(text, str(path))
        else:
            data = _json(text, str(path))
    elif isinstance(source, str):
        _check_size(len(source.encode("utf-8", "surrogatepass")), "the spec")
        data = _json(source, "the spec")
    if not isinstance(data, dict):
        raise SpecError("a spec is a JSON/YAML object with at least entity and metrics")
    return validate_spec(data)


def validate_spec(data: dict[str, Any]) -> QuerySpec:
    """Validate a spec dict, turning pydantic errors into one readable SpecError."""
    check_spec_shape(data)
    try:
        return QuerySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_readable(exc)) from None


def check_spec_shape(data: Any) -> None:
    """Refuse a document too deep, too big or with too many fields, without expanding it.

    Walks at most ``MAX_SPEC_NODES`` nodes, so a structure that shares sub-lists (what YAML
    aliases build) is counted as expanded but never walked further than the limit.
    """
    if isinstance(data, dict) and len(data) > MAX_SPEC_FIELDS:
        raise SpecError(
            f"invalid query spec: {len(data)} fields, at most {MAX_SPEC_FIELDS} allowed; "
            f"fields are: {', '.join(QuerySpec.model_fields)}"
        )
    budget = MAX_SPEC_NODES
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise SpecError(
                f"invalid query spec: more than {MAX_SPEC_NODES} keys, items and values "
                "(after expanding YAML aliases)"
            )
        if depth > MAX_SPEC_DEPTH:
            raise SpecError(f"invalid query spec: nested deeper than {MAX_SPEC_DEPTH} levels")
        if isinstance(node, dict):
            budget -= len(node)  # the keys
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def _check_size(size: int, what: str) -> None:
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"{what} is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,} bytes")


def _read_text(path: Path) -> str:
    try:
        _check_size(path.stat().st_size, str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    _check_size(len(raw), str(path))  # it may have grown since stat
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def _yaml(text: str, what: str) -> Any:
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; only YAML specs need it

    class _LimitedLoader(yaml.SafeLoader):
        """A safe loader that refuses many aliases and deep nesting while composing."""

        aliases = 0
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_SPEC_ALIASES:
                    raise SpecError(
                        f"{what}: more than {MAX_SPEC_ALIASES} YAML aliases (*name); "
                        "write the values out"
                    )
            self.depth += 1
            try:
                if self.depth > MAX_SPEC_DEPTH:
                    raise SpecError(
                        f"invalid query spec: {what} is nested deeper than {MAX_SPEC_DEPTH} levels"
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    loader = _LimitedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise SpecError(f"{what} is not valid YAML: {first}") from None
    finally:
        loader.dispose()


def _json(text: str, what: str) -> Any:
    depth = _json_depth(text)
    if depth > MAX_SPEC_DEPTH:
        raise SpecError(f"invalid query spec: {what} is nested deeper than {MAX_SPEC_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{what} is not valid JSON: {exc}") from None


def _json_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in JSON text, strings skipped (a linear scan)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_SPEC_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _readable(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field; fields are: {', '.join(QuerySpec.model_fields)}"
        elif error["type"] == "literal_error" and where == "entity":
            message = f"unknown entity; entities are: {', '.join(ENTITIES)}"
        elif error["type"] == "literal_error" and where == "format":
            message = f"unknown format; formats are: {', '.join(OUTPUT_FORMATS)}"
        lines.append(f"{where}: {message}" if where else message)
    return "invalid query spec:\n  " + "\n  ".join(lines)
