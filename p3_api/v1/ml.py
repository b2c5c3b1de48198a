"""``/v1/predictions`` and ``/v1/anomalies``: the ML outputs, read from their published snapshot
(``P3_ML_SNAPSHOT_PATH``), never from the live warehouse."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from p3_common.snapshot import SnapshotError, open_snapshot, read_meta

from ..problems import Problem
from ..response_cache import Entry, cache_control, get_key, respond

router = APIRouter(prefix="/v1", tags=["ml"])

ANOMALY_TABLES = {"laps": "ml.lap_time_anomalies", "pit_stops": "ml.pit_stop_anomalies"}
MAX_PAGE = 1000
MAX_OFFSET = 10_000_000


def _rows(result: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in result.description]
    return [
        {
            n: (v.isoformat() if hasattr(v, "isoformat") else v)
            for n, v in zip(names, row, strict=True)
        }
        for row in result.fetchall()
    ]


def _read(request: Request, read: Any) -> Entry:
    """Run ``read(con)`` on the ML snapshot; a JSON Entry tagged with its build."""
    path = request.app.state.settings.ml_snapshot_path
    try:
        with open_snapshot(path) as con:
            build_id = read_meta(con).build_id
            body = {"build_id": build_id, **read(con)}
    except SnapshotError as exc:
        raise Problem(503, f"{exc} (the ML outputs are published by serving/ml_snapshot)") from None
    return Entry(build_id, json.dumps(body, allow_nan=False).encode(), "application/json")


@router.get("/predictions", summary="The champion model's predictions for the next (or last) race")
async def predictions(request: Request) -> Response:
    """Predicted finishing order with win and podium probabilities for the next race (from its
    qualifying, or the previous race's entry list), or the latest race with the actual result
    beside the prediction: ``ml.race_predictions`` as last published."""

    def read(con: Any) -> dict[str, Any]:
        rows = _rows(con.execute("select * from ml.race_predictions order by predicted_rank"))
        race = (
            {k: rows[0][k] for k in ("season", "round", "race_name", "entry_basis")}
            if rows
            else None
        )
        return {"race": race, "predictions": rows}

    key = get_key(request)
    return await respond(
        request, key, lambda: _read(request, read), cache_control=cache_control(request)
    )


@router.get("/anomalies", summary="Lap-time or pit-stop anomalies")
async def anomalies(
    request: Request,
    kind: Annotated[Literal["laps", "pit_stops"], Query(description="Which detector.")] = "laps",
    season: Annotated[int | None, Query(ge=1950, le=2100)] = None,
    round: Annotated[int | None, Query(ge=1, le=99)] = None,  # noqa: A002 (the API's word)
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Flagged laps (abnormally slow or fast for the driver's stint; field-wide ones marked) or pit
    stops (abnormally long or short for the race), largest robust z-score first, a page at a time."""
    table = ANOMALY_TABLES[kind]

    def read(con: Any) -> dict[str, Any]:
        where, params = ["true"], []
        if season is not None:
            where.append("season = ?")
            params.append(season)
        if round is not None:
            where.append("round = ?")
            params.append(round)
        condition = " and ".join(where)
        (total,) = con.execute(f"select count(*) from {table} where {condition}", params).fetchone()
        page = con.execute(
            f"select * from {table} where {condition} "
            "order by abs(robust_z) desc, race_id, driver_id limit ? offset ?",
            [*params, limit, offset],
        )
        return {
            "kind": kind,
            "total": int(total),
            "limit": limit,
            "offset": offset,
            "items": _rows(page),
        }

    key = get_key(request)
    return await respond(
        request, key, lambda: _read(request, read), cache_control=cache_control(request)
    )
