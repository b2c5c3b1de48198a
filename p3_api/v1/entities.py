"""``/v1/drivers``, ``/v1/constructors``, ``/v1/circuits``, ``/v1/races``, ``/v1/seasons``: the
published dims with search and paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from p3_common.snapshot import SnapshotError

from ..problems import Problem
from ..response_cache import Entry, cache_control, get_key, respond

router = APIRouter(prefix="/v1", tags=["entities"])

MAX_PAGE = 1000
MAX_OFFSET = 10_000_000  # far beyond any list; bounds the value handed to SQL


@dataclass(frozen=True)
class EntityTable:
    """How one entity is listed: its relation, the columns returned, what ``q`` searches, the order."""

    relation: str
    columns: tuple[str, ...]
    searched: tuple[str, ...]
    order: str
    season_column: str | None = None


# Trusted SQL fragments (never from a request); every request value is a bound parameter.
ENTITIES: dict[str, EntityTable] = {
    "drivers": EntityTable(
        "marts.dim_drivers",
        (
            "driver_id",
            "driver_ref",
            "driver_code",
            "permanent_number",
            "forename",
            "surname",
            "full_name",
            "date_of_birth",
            "nationality",
            "first_season",
            "last_season",
            "race_entries",
            "url",
        ),
        ("driver_ref", "full_name", "driver_code", "nationality"),
        "driver_id",
    ),
    "constructors": EntityTable(
        "marts.dim_constructors",
        (
            "constructor_id",
            "constructor_ref",
            "constructor_name",
            "nationality",
            "first_season",
            "last_season",
            "race_entries",
            "url",
        ),
        ("constructor_ref", "constructor_name", "nationality"),
        "constructor_id",
    ),
    "circuits": EntityTable(
        "marts.dim_circuits",
        (
            "circuit_id",
            "circuit_ref",
            "circuit_name",
            "location",
            "country",
            "latitude",
            "longitude",
            "altitude_m",
            "url",
        ),
        ("circuit_ref", "circuit_name", "location", "country"),
        "circuit_id",
    ),
    "races": EntityTable(
        "marts.dim_races",
        (
            "race_id",
            "season",
            "round",
            "race_name",
            "race_date",
            "race_start_at",
            "circuit_id",
            "circuit_name",
            "location",
            "country",
            "is_sprint_weekend",
            "url",
        ),
        ("race_name", "circuit_name", "location", "country"),
        "season, round",
        season_column="season",
    ),
    "seasons": EntityTable(
        "(select season, count(*) as races, min(race_date) as first_race_date, "
        "max(race_date) as last_race_date, bool_or(is_sprint_weekend) as has_sprints "
        "from marts.dim_races group by season)",
        ("season", "races", "first_race_date", "last_race_date", "has_sprints"),
        (),
        "season",
        season_column="season",
    ),
}


class Page(BaseModel):
    """One page of an entity list."""

    total: int = Field(description="Rows matching the search, over all pages.")
    limit: int
    offset: int
    build_id: str = Field(description="The published build the page was read from.")
    items: list[dict[str, Any]]


def list_entities(
    cursor: Any, table: EntityTable, *, q: str | None, season: int | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """``(total, rows)`` of ``table`` matching ``q`` (case-insensitive substring of any searched
    column) and ``season``, ordered, one page."""
    where: list[str] = ["true"]
    params: list[object] = []
    if q:
        if not table.searched:
            raise Problem(422, "q: this list cannot be searched; filter it by season instead")
        where.append("(" + " or ".join(f"{c}::varchar ilike ?" for c in table.searched) + ")")
        params += [f"%{q}%"] * len(table.searched)
    if season is not None:
        if table.season_column is None:
            raise Problem(422, "season: this list has no season; use q to search it")
        where.append(f"{table.season_column} = ?")
        params.append(season)
    condition = " and ".join(where)
    total = cursor.execute(f"select count(*) from {table.relation} where {condition}", params)
    (count,) = total.fetchone()
    page = cursor.execute(
        f"select {', '.join(table.columns)} from {table.relation} where {condition} "
        f"order by {table.order} limit ? offset ?",
        [*params, limit, offset],
    )
    names = [d[0] for d in page.description]
    rows = [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in page.fetchall()]
    return int(count), rows


def _plain(value: Any) -> Any:
    # Dates and timestamps as ISO strings; everything else as DuckDB returns it.
    return value.isoformat() if hasattr(value, "isoformat") else value


def _route(name: str) -> None:
    table = ENTITIES[name]

    async def list_route(
        request: Request,
        q: Annotated[str | None, Query(max_length=100, description="Search text.")] = None,
        season: Annotated[int | None, Query(ge=1950, le=2100)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 30,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Response:
        engine = request.app.state.snapshot.engine

        def produce() -> Entry:
            try:
                with engine.lease() as lease:
                    total, items = list_entities(
                        lease.cursor, table, q=q, season=season, limit=limit, offset=offset
                    )
                    page = Page(
                        total=total,
                        limit=limit,
                        offset=offset,
                        build_id=lease.build_id,
                        items=items,
                    )
            except SnapshotError as exc:
                raise Problem(503, str(exc)) from None
            return Entry(page.build_id, page.model_dump_json().encode(), "application/json")

        key = get_key(request)
        return await respond(request, key, produce, cache_control=cache_control(request))

    searched = ", ".join(table.searched) or "nothing (filter by season)"
    router.add_api_route(
        f"/{name}",
        list_route,
        methods=["GET"],
        response_model=Page,
        summary=f"List {name}",
        description=(
            f"The published {name}, {table.order.replace(', ', ' then ')} order, a page at a "
            f"time (`limit` up to {MAX_PAGE}, `offset`). `q` searches {searched} "
            "(case-insensitive substring)"
            + ("; `season` keeps one season." if table.season_column else ".")
        ),
        name=f"list_{name}",
    )


for _name in ENTITIES:
    _route(_name)
