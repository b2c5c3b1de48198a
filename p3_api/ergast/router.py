"""``GET /ergast/f1/{path}``: the Ergast-compatible read API (one route; the grammar is in the path)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import URL
from starlette.types import Scope

from p3_common.snapshot import SnapshotError

from ..problems import Problem
from ..response_cache import ARRIVAL, Entry, cache_control, public_for, request_key, respond
from .grammar import DEFAULT_LIMIT, MAX_LIMIT, RESOURCES, ErgastRequest, UnknownPath, parse
from .index import BadRequest, ErgastIndex, NotLoaded

if TYPE_CHECKING:
    from ..snapshot import SnapshotService

PREFIX = "/ergast/f1"
ROUTE = f"{PREFIX}/{{path:path}}"  # the one route's template (access rule, metrics label)
router = APIRouter(prefix=PREFIX, tags=["ergast"])

MAX_OFFSET = 10_000_000  # far beyond any table

DESCRIPTION = f"""\
The Ergast API (as served by Jolpica) over the published snapshot: existing Ergast clients work
unchanged with this base URL. Every value in the answer is a JSON string.

**Path grammar** (the `.json` suffix and a trailing `/` are optional; keywords are
case-insensitive, ids are not):

```
[{{season}}[/{{round}}]] [/<filter>/<value>]* [/<resource>]
```

- `season`: a year or `current` (the latest season on the published calendar);
  `round`: a number, `last` (the latest round of the season with results) or `next` (the one after).
- filters, in any order (the last of a repeated filter wins): `circuits/{{circuitId}}`,
  `constructors/{{constructorId}}`, `drivers/{{driverId}}`, `grid/{{n}}`, `results/{{position}}`,
  `fastest/{{rank}}`, `status/{{statusId}}`, `laps/{{lap}}`, `pitstops/{{stop}}`,
  `qualifying/{{position}}`, `sprint/{{position}}`, `driverStandings/{{position}}`,
  `constructorStandings/{{position}}`. Ids are Ergast refs (`max_verstappen`, `red_bull`, `monza`).
- resources: {", ".join(f"`{r}`" for r in RESOURCES)}. A path ending in `<filter>/<value>` whose
  filter names a resource asks for that resource (`drivers/alonso`, `2023/1/laps/5`,
  `2023/22/driverStandings/1`); a path of only a season (and round) asks for `races`.
- `laps` and `pitstops` need a season and a round. Standings without a round are each season's
  standings after its latest round.

**Paging**: `limit` (default {DEFAULT_LIMIT}, larger values are cut to {MAX_LIMIT}) and `offset`;
`MRData.total` counts the innermost rows (results, lap timings, pit stops, standings entries), and
a page slices those rows, so one race or lap can continue on the next page.

A round that does not exist answers an empty table (`total` "0"), not an error. A path outside the
grammar is a 404 problem; a filter a resource does not take is a 400 problem.
"""

EXAMPLE = {
    "MRData": {
        "xmlns": "",
        "series": "f1",
        "url": "http://localhost:8000/ergast/f1/2023/22/driverStandings/1.json",
        "limit": "30",
        "offset": "0",
        "total": "1",
        "StandingsTable": {
            "season": "2023",
            "round": "22",
            "driverStandings": "1",
            "StandingsLists": [
                {
                    "season": "2023",
                    "round": "22",
                    "DriverStandings": [
                        {
                            "position": "1",
                            "positionText": "1",
                            "points": "575",
                            "wins": "19",
                            "Driver": {
                                "driverId": "max_verstappen",
                                "permanentNumber": "33",
                                "code": "VER",
                                "url": "http://en.wikipedia.org/wiki/Max_Verstappen",
                                "givenName": "Max",
                                "familyName": "Verstappen",
                                "dateOfBirth": "1997-09-30",
                                "nationality": "Dutch",
                            },
                            "Constructors": [
                                {
                                    "constructorId": "red_bull",
                                    "url": "http://en.wikipedia.org/wiki/Red_Bull_Racing",
                                    "name": "Red Bull",
                                    "nationality": "Austrian",
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }
}

PATH_EXAMPLES: dict[str, Any] = {
    "results": {"summary": "One race's results", "value": "2023/9/results.json"},
    "standings": {"summary": "A champion", "value": "2023/22/driverStandings/1.json"},
    "laps": {"summary": "Lap 1 timings", "value": "2019/21/laps/1.json"},
    "filters": {
        "summary": "Filters in any order",
        "value": "drivers/alonso/circuits/monaco/results",
    },
    "champions": {"summary": "Every world champion", "value": "driverStandings/1/drivers.json"},
    "schedule": {"summary": "A season's calendar", "value": "current.json"},
}


@router.get(
    ROUTE.removeprefix(PREFIX),
    summary="Ergast-compatible reads (results, standings, laps, schedules, ...)",
    description=DESCRIPTION,
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The Ergast `MRData` document",
            "content": {"application/json": {"example": EXAMPLE}},
        },
        400: {"description": "A filter the resource does not take (problem document)"},
        404: {"description": "A path outside the Ergast grammar (problem document)"},
        503: {"description": "No published snapshot (problem document)"},
    },
)
async def ergast(
    request: Request,
    path: Annotated[str, Path(description="The Ergast path.", openapi_examples=PATH_EXAMPLES)],
    limit: Annotated[int, Query(ge=0, description=f"Rows per page (cut to {MAX_LIMIT}).")] = (
        DEFAULT_LIMIT
    ),
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Response:
    """The Ergast answer to ``path`` (see the route's description for the grammar)."""
    try:
        question = parse(path, limit=limit, offset=offset)
    except UnknownPath as exc:
        raise Problem(404, f"not an Ergast path: {exc}") from None
    service: SnapshotService = request.app.state.snapshot
    url = str(request.url.replace(query=""))

    def produce() -> Entry:
        try:
            with service.engine.lease() as lease:
                body = _answer(service.ergast(lease.build_id), question, url, lease.cursor)
        except SnapshotError as exc:
            raise Problem(503, str(exc)) from None
        return Entry(lease.build_id, body, "application/json")

    key = answer_key(url, question)
    return await respond(request, key, produce, cache_control=cache_control(request))


def answer_key(url: str, question: ErgastRequest) -> str:
    """The response cache's key of an answer: it echoes its URL (``MRData.url``), so the key
    holds the whole URL, and the page."""
    return request_key("GET", url, str(question.limit), str(question.offset))


def _answer(index: ErgastIndex, question: ErgastRequest, url: str, cursor: Any | None) -> bytes:
    try:
        return index.answer(question, url, cursor).encode()
    except BadRequest as exc:
        raise Problem(400, str(exc)) from None


# What the route's query parameters accept, matched whole: ``limit`` and ``offset``, each at
# most once, as plain digits. Anything else takes the route (and its validation).
_PLAIN_PAGE = re.compile(rb"((limit|offset)=\d{1,8})?(&(limit|offset)=\d{1,8})?")


def answer_before_routing(scope: Scope, service: SnapshotService, max_age: int) -> Entry | None:
    """The answer to an Ergast GET when everything it needs is in memory (``CachedAnswers``
    calls this before routing): from L1, else from the build's index, stored in L1 under the
    route's key and the arrival key. ``None`` sends the request down the route instead: a path
    outside the grammar, a query string the route must validate, a 400, no open snapshot or a
    new build, or a part of the index not read yet (the route reads it in a worker thread)."""
    path = scope["path"]
    if not path.startswith(PREFIX + "/"):
        return None
    query = scope.get("query_string", b"")
    page = _PLAIN_PAGE.fullmatch(query)
    if page is None or (page.group(2) and page.group(2) == page.group(4)):
        return None
    params = dict(pair.split(b"=") for pair in query.split(b"&") if pair)
    try:
        question = parse(
            path[len(PREFIX) + 1 :],
            limit=int(params.get(b"limit", DEFAULT_LIMIT)),
            offset=int(params.get(b"offset", 0)),
        )
    except UnknownPath:
        return None
    if question.offset > MAX_OFFSET:
        return None
    url = str(URL(scope=scope).replace(query=""))
    key = answer_key(url, question)
    entry = service.responses.get(key)
    if entry is None:
        build_id = service.engine.open_build_id()
        if build_id is None:
            return None
        try:
            body = _answer(service.ergast(build_id), question, url, None)
        except (NotLoaded, Problem):
            return None
        entry = Entry(build_id, body, "application/json", key, ROUTE, public_for(max_age))
        service.responses.put(key, entry)
    service.responses.put(scope[ARRIVAL], entry)
    return entry
