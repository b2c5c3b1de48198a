"""One example answer per route, shown in the OpenAPI document: (method, path) -> example.

Trimmed from real answers on the 1950-2024 history (lists cut to one or two items). A test calls
every route on a live server and holds each example's shape (its keys, nested) equal to the
answer's, and fails for a route without an example, so the documentation cannot drift or lag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .ergast.router import EXAMPLE as ERGAST_STANDINGS


@dataclass(frozen=True)
class Example:
    """An example answer; ``request`` is the path (and query) or JSON body that produces it."""

    value: Any
    request: str | dict[str, Any] | None = None
    media_type: str = "application/json"
    status: int = 200


BUILD = "8946f8a1698f4b7c"

DRIVER = {
    "driver_id": 1,
    "driver_ref": "hamilton",
    "driver_code": "HAM",
    "permanent_number": 44,
    "forename": "Lewis",
    "surname": "Hamilton",
    "full_name": "Lewis Hamilton",
    "date_of_birth": "1985-01-07",
    "nationality": "British",
    "first_season": 2007,
    "last_season": 2024,
    "race_entries": 356,
    "url": "http://en.wikipedia.org/wiki/Lewis_Hamilton",
}
CONSTRUCTOR = {
    "constructor_id": 6,
    "constructor_ref": "ferrari",
    "constructor_name": "Ferrari",
    "nationality": "Italian",
    "first_season": 1950,
    "last_season": 2024,
    "race_entries": 1100,
    "url": "http://en.wikipedia.org/wiki/Scuderia_Ferrari",
}
CIRCUIT = {
    "circuit_id": 6,
    "circuit_ref": "monaco",
    "circuit_name": "Circuit de Monaco",
    "location": "Monte-Carlo",
    "country": "Monaco",
    "latitude": 43.7347,
    "longitude": 7.42056,
    "altitude_m": 7,
    "url": "http://en.wikipedia.org/wiki/Circuit_de_Monaco",
}
RACE = {
    "race_id": 1098,
    "season": 2023,
    "round": 1,
    "race_name": "Bahrain Grand Prix",
    "race_date": "2023-03-05",
    "race_start_at": "2023-03-05T15:00:00",
    "circuit_id": 3,
    "circuit_name": "Bahrain International Circuit",
    "location": "Sakhir",
    "country": "Bahrain",
    "is_sprint_weekend": False,
    "url": "https://en.wikipedia.org/wiki/2023_Bahrain_Grand_Prix",
}
SEASON = {
    "season": 2023,
    "races": 22,
    "first_race_date": "2023-03-05",
    "last_race_date": "2023-11-26",
    "has_sprints": True,
}


def page(item: dict[str, Any], total: int) -> dict[str, Any]:
    """A /v1 list page holding ``item``."""
    return {"total": total, "limit": 1, "offset": 0, "build_id": BUILD, "items": [item]}


QUERY_SPEC = {
    "entity": "driver",
    "ids": ["hamilton", "max_verstappen"],
    "seasons": "2021",
    "metrics": ["wins", "points"],
}
NORMALISED_SPEC = {
    "entity": "driver",
    "ids": [1, 830],
    "seasons": [2021],
    "metrics": ["points", "wins"],
    "custom_metrics": [],
    "group_by": ["entity"],
    "statistics": [],
    "compare": False,
    "order_by": [],
    "limit": 1000,
    "format": "json",
}
QUERY_ROWS = [
    {
        "entity_id": 830,
        "entity_ref": "max_verstappen",
        "entity_name": "Max Verstappen",
        "points": 395.5,
        "wins": 10,
    },
    {
        "entity_id": 1,
        "entity_ref": "hamilton",
        "entity_name": "Lewis Hamilton",
        "points": 387.5,
        "wins": 8,
    },
]
LATENCY = {"count": 120.0, "mean_ms": 0.4, "p50_ms": 0.3, "p95_ms": 0.9, "p99_ms": 1.6}

LIVE_STATE = {
    "season": 2019,
    "round": 20,
    "status": "running",
    "lap": 52,
    "total_laps": 71,
    "laps_remaining": 19,
    "fastest_lap": {"driver_id": 830, "lap": 48, "time_ms": 72811},
    "events_applied": 1094,
    "lap_anomalies": [],
    "rows": [
        {
            "position": 1,
            "driver_id": 830,
            "code": "VER",
            "name": "Max Verstappen",
            "constructor": "Red Bull",
            "grid": 1,
            "laps": 52,
            "gap_ms": None,
            "laps_down": 0,
            "interval_ms": None,
            "last_lap_ms": 73342,
            "best_lap_ms": 72811,
            "pits": 2,
            "retired": False,
            "status": "running",
            "position_text": "1",
            "last_lap_anomaly": False,
            "win_prob": 0.71,
            "podium_prob": 0.97,
        }
    ],
}

EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/healthz"): Example({"status": "ok"}, "/healthz"),
    ("GET", "/readyz"): Example(
        {
            "status": "ready",
            "snapshot": {
                "build_id": BUILD,
                "published_at": "2026-12-01T07:34:26.219661+00:00",
                "tables": 20,
            },
            "redis": "ok",
        },
        "/readyz",
    ),
    ("GET", "/metrics"): Example(
        "# HELP p3_api_requests_total Requests answered, by route template, method and status.\n"
        "# TYPE p3_api_requests_total counter\n"
        'p3_api_requests_total{method="GET",route="/ergast/f1/{path:path}",status="200"} 1834.0\n',
        "/metrics",
        media_type="text/plain",
    ),
    ("POST", "/oauth/token"): Example(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJl",
            "token_type": "Bearer",
            "expires_in": 900,
            "scope": "p3:analyst",
        }
    ),
    ("POST", "/v1/query"): Example(
        {
            "build_id": BUILD,
            "query_hash": "3b7fa3671a6227338ee4486cdcb75759d4ca92f13c969d3e0014751b2efe3f33",
            "spec": NORMALISED_SPEC,
            "rows": QUERY_ROWS,
            "timings_ms": {"plan": 0.183, "sql": 3.344, "analysis": 0.004, "total": 3.53},
        },
        QUERY_SPEC,
    ),
    ("POST", "/v1/query/explain"): Example(
        {
            "build_id": BUILD,
            "query_hash": "590f9113e8b86c1718b928c83511f355c72098ba51ba5369fd3b79931cf38e5b",
            "spec": NORMALISED_SPEC,
            "group_by": ["entity"],
            "sources": [
                {
                    "table": "marts.fct_race_results",
                    "source": "driver_results",
                    "metrics": ["points", "wins"],
                    "table_rows": 26759,
                    "estimated_rows": 2,
                    "filters_pushed_down": [
                        "season between $season_from and $season_to",
                        "list_contains($ids, driver_id)",
                    ],
                }
            ],
            "estimated_rows": 2,
            "alternatives": [
                {
                    "metric": "wins",
                    "table": "marts.mart_driver_season",
                    "estimated_rows": 2,
                    "chosen": False,
                }
            ],
            "rewrites": [],
            "sql": "with source_1 as (select driver_id as entity_id, ... from "
            "marts.fct_race_results as src where season between $season_from and $season_to "
            "and list_contains($ids, driver_id) group by driver_id) ... limit $limit",
            "params": {"season_from": 2021, "season_to": 2021, "ids": [1, 830], "limit": 1000},
            "notes": [],
        },
        QUERY_SPEC,
    ),
    ("GET", "/v1/compare/{entity}"): Example(
        {
            "build_id": BUILD,
            "query_hash": "5ffa75ab5c423a99ecccf7acf5bc92dee2e82feb715d393953a9a61f8c8d1f36",
            "spec": NORMALISED_SPEC | {"compare": True},
            "rows": QUERY_ROWS[:1],
            "comparison": [
                {
                    "scope": "overall",
                    "season": None,
                    "a_id": 1,
                    "a_ref": "hamilton",
                    "b_id": 830,
                    "b_ref": "max_verstappen",
                    "metric": "points",
                    "a_value": 387.5,
                    "b_value": 395.5,
                    "difference": -8.0,
                    "ahead": "max_verstappen",
                    "a_seasons_ahead": None,
                    "b_seasons_ahead": None,
                }
            ],
            "timings_ms": {"plan": 0.2, "sql": 3.1, "analysis": 0.3, "total": 3.6},
        },
        "/v1/compare/driver?ids=hamilton,max_verstappen&seasons=2021&metrics=wins,points",
    ),
    ("GET", "/v1/drivers"): Example(page(DRIVER, 2), "/v1/drivers?q=hamilton&limit=1"),
    ("GET", "/v1/constructors"): Example(
        page(CONSTRUCTOR, 3), "/v1/constructors?q=ferrari&limit=1"
    ),
    ("GET", "/v1/circuits"): Example(page(CIRCUIT, 1), "/v1/circuits?q=monaco&limit=1"),
    ("GET", "/v1/races"): Example(page(RACE, 22), "/v1/races?season=2023&limit=1"),
    ("GET", "/v1/seasons"): Example(page(SEASON, 75), "/v1/seasons?season=2023&limit=1"),
    ("GET", "/v1/cache/stats"): Example(
        {
            "query_cache": {
                "backend": "redis",
                "current_build": BUILD,
                "hits": 1520,
                "misses": 80,
                "degraded": 0,
                "evictions": 0,
                "expired": 0,
                "retired": 1,
                "prefetches": 12,
                "entries": 2510,
                "memory_bytes": 18874368,
                "hits_by_origin": {"read-through": 610, "warm": 900, "prefetch": 10},
                "latency": {"hit": LATENCY, "miss": LATENCY, "degraded": LATENCY},
                "hottest": [],
                "most_expensive": [],
                "builds": {},
                "notes": {},
                "requests": 1600,
                "hit_ratio": 0.95,
            },
            "response_cache": {"entries": 412, "bytes": 3145728, "max_bytes": 67108864},
        },
        "/v1/cache/stats?top=1",
    ),
    ("POST", "/v1/cache/clear"): Example(
        {"deleted": 2510, "response_cache_entries_dropped": 412}, {"build_id": "0" * 16}
    ),
    ("GET", "/v1/predictions"): Example(
        {
            "build_id": "ml-5c0ffee0d15ea5e5",
            "race": {
                "season": 2024,
                "round": 24,
                "race_name": "Abu Dhabi Grand Prix",
                "entry_basis": "qualifying",
            },
            "predictions": [
                {
                    "season": 2024,
                    "round": 24,
                    "race_name": "Abu Dhabi Grand Prix",
                    "race_id": 1144,
                    "driver_id": 846,
                    "driver_name": "Lando Norris",
                    "constructor_name": "McLaren",
                    "grid_position": 1,
                    "predicted_rank": 1,
                    "win_prob": 0.41,
                    "podium_prob": 0.83,
                    "score": 2.7,
                    "actual_rank": 1,
                    "is_win": True,
                    "is_podium": True,
                    "entry_basis": "qualifying",
                }
            ],
        },
        "/v1/predictions",
    ),
    ("GET", "/v1/anomalies"): Example(
        {
            "build_id": "ml-5c0ffee0d15ea5e5",
            "kind": "laps",
            "total": 5321,
            "limit": 1,
            "offset": 0,
            "items": [
                {
                    "race_id": 1010,
                    "season": 2019,
                    "round": 21,
                    "driver_id": 1,
                    "constructor_id": 131,
                    "lap": 54,
                    "stint": 3,
                    "lap_time_ms": 93411,
                    "expected_ms": 74512.0,
                    "delta_ms": 18899.0,
                    "robust_z": 11.8,
                    "direction": "slow",
                    "is_field_wide": False,
                }
            ],
        },
        "/v1/anomalies?kind=laps&limit=1",
    ),
    ("GET", "/v1/live/races"): Example(
        {
            "races": [
                {"season": 2019, "round": 20, "status": "running", "lap": 52, "total_laps": 71}
            ]
        },
        "/v1/live/races",
    ),
    ("GET", "/v1/live/races/{season}/{round}"): Example(LIVE_STATE, "/v1/live/races/2019/20"),
    ("GET", "/v1/live/races/{season}/{round}/events"): Example(
        f"event: state\nid: 1764575000000-0\ndata: {json.dumps(LIVE_STATE)[:120]}...\n\n",
        "/v1/live/races/2019/20/events",
        media_type="text/event-stream",
    ),
    ("GET", "/ergast/f1/{path}"): Example(
        ERGAST_STANDINGS, "/ergast/f1/2023/22/driverStandings/1.json"
    ),
}


def install_examples(document: dict[str, Any]) -> None:
    """Put each route's example on its success response in the OpenAPI ``document``."""
    for (method, path), example in EXAMPLES.items():
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue  # a route of a router this app does not mount
        response = operation.setdefault("responses", {}).setdefault(
            str(example.status), {"description": "Successful Response"}
        )
        response.setdefault("content", {}).setdefault(example.media_type, {})["example"] = (
            example.value
        )
