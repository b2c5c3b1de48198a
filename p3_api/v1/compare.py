"""``GET /v1/compare/{entity}``: two or more drivers or constructors side by side, metric by
metric, overall or per season — the query spec's pairwise comparison as a cacheable GET."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from p3_common.snapshot import SnapshotError
from p3_query.formats import render
from p3_query.spec import QuerySpec, SpecError

from ..metrics import CACHE
from ..problems import Problem
from ..response_cache import Entry, cache_control, get_key, respond

router = APIRouter(prefix="/v1", tags=["query"])


def _listed(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@router.get(
    "/compare/{entity}",
    summary="Compare drivers or constructors, metric by metric",
    responses={422: {"description": "Unknown ids or metrics, or too few ids (problem document)"}},
)
async def compare(
    request: Request,
    entity: Annotated[Literal["driver", "constructor"], Path(description="What the ids are.")],
    ids: Annotated[
        str,
        Query(
            max_length=500,
            description="Two or more refs or numeric ids, comma-separated "
            "(`hamilton,max_verstappen`, `ferrari,mclaren,mercedes`).",
        ),
    ],
    metrics: Annotated[
        str,
        Query(max_length=500, description="Registry metrics, comma-separated (`wins,points`)."),
    ] = "wins,podiums,points",
    seasons: Annotated[
        str | None,
        Query(max_length=40, description="A season or range (`2021`, `2014-2024`); all if unset."),
    ] = None,
    per: Annotated[
        Literal["overall", "season"],
        Query(description="One comparison over the seasons, or one per season."),
    ] = "overall",
) -> Response:
    """Each pair of ``ids`` compared on each metric: both values, the difference and who is
    ahead (per season, also how many seasons each was ahead), with every entity's values."""
    try:
        spec = QuerySpec.model_validate(
            {
                "entity": entity,
                "ids": _listed(ids),
                "metrics": _listed(metrics),
                "seasons": seasons,
                "compare": True,
                "group_by": ["entity"] if per == "overall" else ["season", "entity"],
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise Problem(422, f"{field}: {first['msg']}" if field else first["msg"]) from None
    service = request.app.state.snapshot

    def produce() -> Entry:
        try:
            answer = service.cached_engine.execute_with_info(spec)
            body = render(answer.result, "json")
        except SpecError as exc:
            raise Problem(422, str(exc)) from None
        except SnapshotError as exc:
            raise Problem(503, str(exc)) from None
        CACHE.labels("l2", "hit" if answer.cache.hit else "miss").inc()
        return Entry(answer.result.build_id, body, "application/json")

    return await respond(request, get_key(request), produce, cache_control=cache_control(request))
