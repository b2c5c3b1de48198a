"""``GET /ergast/f1/{path}``: the Ergast-compatible read API (one route; the grammar is in the path)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from p3_common.snapshot import SnapshotError

from ..problems import Problem
from ..response_cache import Entry, cache_control, request_key, respond
from .grammar import DEFAULT_LIMIT, MAX_LIMIT, RESOURCES, UnknownPath, parse
from .queries import BadRequest, fetch
from .shapes import document

router = APIRouter(prefix="/ergast/f1", tags=["ergast"])

MAX_OFFSET = 10_000_000  # far beyond any table; bounds the value handed to SQL

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
    "/{path:path}",
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
    engine = request.app.state.snapshot.engine
    url = str(request.url.replace(query=""))

    def produce() -> Entry:
        try:
            with engine.lease() as lease:
                body = document(question, fetch(lease.cursor, question), url)
                build_id = lease.build_id
        except BadRequest as exc:
            raise Problem(400, str(exc)) from None
        except SnapshotError as exc:
            raise Problem(503, str(exc)) from None
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Entry(build_id, encoded, "application/json")

    # The answer echoes its URL (MRData.url), so the key holds the whole URL.
    key = request_key("GET", url, str(question.limit), str(question.offset))
    return await respond(request, key, produce, cache_control=cache_control(request))
