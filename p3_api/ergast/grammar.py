"""The Ergast URL grammar: a path under ``/ergast/f1/`` to an ``ErgastRequest`` (resource and filters).

``[{season}[/{round}]]{/<filter>/<value>}*[/<resource>][.json]``: the season is a year or
``current``, the round a number, ``last`` or ``next``; filters come in any order (the last of a
duplicated one wins, as on Jolpica); a path ending in ``<filter>/<value>`` whose filter is also a
resource (``drivers/alonso``, ``results/1``, ``laps/5``, ``driverStandings/1``) asks for that
resource; a path of only a season (and round) asks for ``races``. Keywords are case-insensitive
(Ergast answered ``driverstandings``), values are not (refs such as ``scott_Brown`` exist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

RESOURCES = (
    "seasons",
    "circuits",
    "races",
    "constructors",
    "drivers",
    "results",
    "sprint",
    "qualifying",
    "laps",
    "pitstops",
    "driverStandings",
    "constructorStandings",
    "status",
)

# keyword (lowercase) -> (ErgastRequest field, value kind)
FILTERS: dict[str, tuple[str, Literal["ref", "int"]]] = {
    "circuits": ("circuit", "ref"),
    "constructors": ("constructor", "ref"),
    "drivers": ("driver", "ref"),
    "grid": ("grid", "int"),
    "results": ("position", "int"),
    "fastest": ("fastest", "int"),
    "status": ("status", "int"),
    "laps": ("lap", "int"),
    "pitstops": ("stop", "int"),
    "qualifying": ("qualifying_position", "int"),
    "sprint": ("sprint_position", "int"),
    "driverstandings": ("driver_standing", "int"),
    "constructorstandings": ("constructor_standing", "int"),
}

_RESOURCE_BY_KEYWORD = {name.lower(): name for name in RESOURCES}
_YEAR = re.compile(r"\d{4}")
_NUMBER = re.compile(r"\d{1,9}")
_REF = re.compile(r"[A-Za-z0-9_\-]{1,64}")

MAX_LIMIT = 1000  # Ergast's cap (Jolpica caps at 100); larger limits are clamped, not refused
DEFAULT_LIMIT = 30


class UnknownPath(Exception):
    """The path is not in the Ergast grammar (answered 404, as Ergast did)."""


@dataclass(frozen=True)
class ErgastRequest:
    """One Ergast question: the resource, the race scope, the filters and the page."""

    resource: str
    season: int | Literal["current"] | None = None
    round: int | Literal["last", "next"] | None = None
    circuit: str | None = None
    constructor: str | None = None
    driver: str | None = None
    grid: int | None = None
    position: int | None = None
    fastest: int | None = None
    status: int | None = None
    lap: int | None = None
    stop: int | None = None
    qualifying_position: int | None = None
    sprint_position: int | None = None
    driver_standing: int | None = None
    constructor_standing: int | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def given(self) -> set[str]:
        """The names of the filters set (season and round excluded)."""
        return {field for field, _ in FILTERS.values() if getattr(self, field) is not None}


def parse(path: str, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> ErgastRequest:
    """The request a path under ``/ergast/f1/`` asks (``UnknownPath`` if it is not Ergast's)."""
    segments = [s for s in path.split("/") if s]
    if segments and segments[-1].endswith(".json"):
        segments[-1] = segments[-1][: -len(".json")]
        if not segments[-1]:
            segments.pop()
    fields: dict[str, object] = {}
    i = 0
    if i < len(segments) and (_YEAR.fullmatch(segments[i]) or segments[i] == "current"):
        fields["season"] = "current" if segments[i] == "current" else int(segments[i])
        i += 1
        if i < len(segments) and (
            _NUMBER.fullmatch(segments[i]) or segments[i] in ("last", "next")
        ):
            word = segments[i]
            fields["round"] = word if word in ("last", "next") else int(word)
            i += 1
    resource: str | None = None
    last_keyword: str | None = None
    while i < len(segments):
        keyword = segments[i].lower()
        if i == len(segments) - 1:
            if keyword not in _RESOURCE_BY_KEYWORD:
                raise UnknownPath(f"unknown resource {segments[i]!r}")
            resource = _RESOURCE_BY_KEYWORD[keyword]
            break
        if keyword not in FILTERS:
            raise UnknownPath(f"unknown filter {segments[i]!r}")
        field, kind = FILTERS[keyword]
        value = segments[i + 1]
        pattern = _REF if kind == "ref" else _NUMBER
        if not pattern.fullmatch(value):
            raise UnknownPath(f"{segments[i]}: {value!r} is not a valid {kind}")
        fields[field] = value if kind == "ref" else int(value)
        last_keyword = keyword
        i += 2
    if resource is None:
        if last_keyword is None:
            resource = "races"
        elif last_keyword in _RESOURCE_BY_KEYWORD:
            resource = _RESOURCE_BY_KEYWORD[last_keyword]
        else:
            raise UnknownPath(f"a path cannot end with {last_keyword}/<value>; add a resource")
    request = ErgastRequest(resource=resource, **fields)  # type: ignore[arg-type]
    return replace(request, limit=min(max(limit, 0), MAX_LIMIT), offset=max(offset, 0))
