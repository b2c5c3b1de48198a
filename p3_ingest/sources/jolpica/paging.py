"""Ergast list pages: decode and check one ``MRData`` page, merge pages, count their rows.

Jolpica pages slice the innermost rows (results, lap timings, ...), so an item can continue on the
next page; ``merge_page`` joins such items and ``count_rows`` counts what ``MRData.total`` counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import SourceError
from .resources import SOURCE, Json, Resource

MAX_PAGE_SIZE = 100  # Jolpica caps `limit` at 100 (ErgastAPIPagination.max_limit)


@dataclass(frozen=True)
class Page:
    """One decoded page: the paging numbers of ``MRData`` and the items of its list."""

    total: int
    limit: int
    offset: int
    items: list[Json]


def parse_page(body: bytes, spec: Resource, where: str) -> Page:
    """Decode one response page and check it has ``MRData`` with the expected table and list."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(
            SOURCE,
            spec.table,
            f"invalid or truncated JSON ({len(body)} bytes): {exc}",
            where=where,
        ) from exc
    mrdata = data.get("MRData") if isinstance(data, dict) else None
    table = mrdata.get(spec.table_key) if isinstance(mrdata, dict) else None
    items = table.get(spec.list_key) if isinstance(table, dict) else None
    if not isinstance(items, list):
        raise SourceError(
            SOURCE,
            spec.table,
            f"response has no MRData.{spec.table_key}.{spec.list_key} list",
            where=where,
        )
    assert isinstance(mrdata, dict)
    try:
        total, limit, offset = (int(mrdata[k]) for k in ("total", "limit", "offset"))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(
            SOURCE, spec.table, f"MRData has no valid total/limit/offset: {exc}", where=where
        ) from exc
    if limit < 1 or total < 0 or offset < 0:
        raise SourceError(
            SOURCE,
            spec.table,
            f"MRData paging out of range: limit={limit} offset={offset} total={total}",
            where=where,
        )
    if spec.payload_key is not None:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get(spec.payload_key), list):
                raise SourceError(
                    SOURCE,
                    spec.table,
                    f"an item of {spec.list_key} has no {spec.payload_key} list",
                    where=where,
                )
    return Page(total=total, limit=limit, offset=offset, items=items)


def _row_count(item: Json, resource: Resource) -> int:
    if resource.payload_key is None:
        return 1
    rows = item.get(resource.payload_key) or []
    if resource.name == "laps":
        return sum(len(lap.get("Timings") or []) for lap in rows)
    return len(rows)


def count_rows(items: list[Json], resource: Resource) -> int:
    """Innermost rows in a list of items: what ``MRData.total`` counts (results, timings, ...)."""
    return sum(_row_count(item, resource) for item in items)


def merge_page(merged: list[Json], items: list[Json], resource: Resource) -> None:
    """Append one page's items to ``merged``, joining items split across pages.

    Pages slice innermost rows, so a Race (by season and round) or a standings list can continue on
    the next page, and for laps even one lap (by number) can. Inputs are not mutated.
    """
    if resource.payload_key is None:
        merged.extend(items)
        return
    key = resource.payload_key
    by_race = {(m.get("season"), m.get("round")): m for m in merged}
    for item in items:
        race_key = (item.get("season"), item.get("round"))
        target = by_race.get(race_key)
        if target is None:
            target = {**item, key: []}
            merged.append(target)
            by_race[race_key] = target
        rows = item.get(key) or []
        if resource.name == "laps":
            _merge_laps(target[key], rows)
        else:
            target[key].extend(rows)


def _merge_laps(laps: list[Json], new_laps: list[Json]) -> None:
    by_number = {lap.get("number"): lap for lap in laps}
    for lap in new_laps:
        existing = by_number.get(lap.get("number"))
        if existing is None:
            existing = {**lap, "Timings": []}
            laps.append(existing)
            by_number[lap.get("number")] = existing
        existing["Timings"].extend(lap.get("Timings") or [])
