"""Integer ids for the ``jolpica`` source: warehouse ids for known refs, rounds and statuses, and new
ids above the warehouse maximum for the rest (see ``JolpicaSource`` for the allocation rules)."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import SourceError
from ..source import WarehouseCatalog
from .client import JolpicaClient
from .mapping import API_REF_KEYS, Row, opt
from .resources import SOURCE, Json

# Per-row surrogate ids the source allocates above the warehouse maximum.
ROW_IDS = {
    "results": "result_id",
    "sprint_results": "result_id",
    "qualifying": "qualify_id",
    "driver_standings": "driver_standings_id",
    "constructor_standings": "constructor_standings_id",
    "constructor_results": "constructor_results_id",
}


class WarehouseIds:
    """Ref/round -> id maps of one source instance: the ``catalog``'s, plus the ids it allocated.

    ``client`` fetches a reference list when a ref the warehouse lacks turns up, so new ids are
    allocated over the API's full list (in sorted ref order) whichever table meets the ref first.
    """

    def __init__(self, catalog: WarehouseCatalog, client: JolpicaClient) -> None:
        self.catalog = catalog
        self.client = client
        self._race_id_maps: dict[int, dict[int, int]] = {}
        self._ref_maps: dict[str, dict[str, int]] = {}
        self._ref_items: dict[str, list[Json]] = {}
        self._issued: dict[tuple[str, str], int] = {}

    def allocate(self, table: str, column: str, count: int) -> list[int]:
        """``count`` new ids of ``table.column``, above the warehouse's and this instance's."""
        key = (table, column)
        start = max(self.catalog.max_id(table, column), self._issued.get(key, 0)) + 1
        self._issued[key] = start + count - 1
        return list(range(start, start + count))

    def race_ids(self, season: int, schedule: Iterable[Json]) -> dict[int, int]:
        """Round -> race_id: warehouse ids of loaded rounds, new ids (in round order) for others."""
        if season not in self._race_id_maps:
            ids = dict(self.catalog.race_ids(season))
            new_rounds = sorted({int(r["round"]) for r in schedule} - ids.keys())
            new_ids = self.allocate("races", "race_id", len(new_rounds))
            ids.update(zip(new_rounds, new_ids, strict=True))
            self._race_id_maps[season] = ids
        return self._race_id_maps[season]

    def ref_ids(self, table: str) -> dict[str, int]:
        """Ref (status text for ``status``) -> id, including ids this instance allocated."""
        if table not in self._ref_maps:
            self._ref_maps[table] = dict(self.catalog.ref_ids(table))
        return self._ref_maps[table]

    def reference_items(self, table: str) -> list[Json]:
        """The API's full list of ``table`` (fetched once), with ids allocated for new refs."""
        if table not in self._ref_items:
            items = self.client.reference(table)
            ids = self.ref_ids(table)
            refs = {opt(item, API_REF_KEYS[table]) for item in items} - {None}
            new_refs = sorted(refs - ids.keys())
            new_ids = self.allocate(table, _id_column(table), len(new_refs))
            ids.update(zip(new_refs, new_ids, strict=True))
            self._ref_items[table] = items
        return self._ref_items[table]

    def ref_id(self, table: str, ref: str | None, *, where: str, row: int) -> int | None:
        """Id of a driver, constructor or circuit ref; a ref nobody knows is a ``SourceError``."""
        if ref is None:
            return None  # conform reports the missing required id with row and column
        ids = self.ref_ids(table)
        if ref not in ids:
            self.reference_items(table)  # a ref the warehouse lacks: allocate over the full list
        if ref not in ids:
            raise SourceError(
                SOURCE,
                table,
                f"{ref!r} is neither in the warehouse nor in the API's {table} list",
                where=where,
                row=row,
                column=API_REF_KEYS[table],
            )
        return ids[ref]

    def status_id(self, text: str | None, table: str, where: str, row: int) -> int | None:
        """Id of a status text, which must already be in the warehouse's status table."""
        if text is None:
            return None
        # Unlike refs, an unknown status is an error: its id must come from the status table.
        status_ids = self.ref_ids("status")
        if text not in status_ids:
            raise SourceError(
                SOURCE,
                table,
                f"unknown status {text!r}: not in the warehouse's status table "
                "(load the status reference table first)",
                where=where,
                row=row,
                column="status_id",
            )
        return status_ids[text]

    def status_rows(self, items: list[Json]) -> list[Row]:
        """Rows of the status table from the API's status list, each with its id."""
        # Keep the warehouse id of a known text; a new text keeps the API's statusId (Jolpica's ids
        # continue Ergast's) unless that id is taken, and then gets one above every id in use.
        known = self.catalog.ref_ids("status")
        taken = set(known.values())
        rows: list[Row] = []
        pending: list[Row] = []
        for item in items:
            text = opt(item, "status")
            api_id = opt(item, "statusId")
            row: Row = {"status_id": None, "status": text}
            if text in known:
                row["status_id"] = known[text]
            elif isinstance(api_id, str) and api_id.isdigit() and int(api_id) not in taken:
                row["status_id"] = int(api_id)
            else:
                pending.append(row)
            if row["status_id"] is not None:
                taken.add(row["status_id"])
            rows.append(row)
        start = max([self.catalog.max_id("status", "status_id"), *taken]) + 1
        for offset, row in enumerate(pending):
            row["status_id"] = start + offset
        return rows


def _id_column(table: str) -> str:
    return {"drivers": "driver_id", "constructors": "constructor_id", "circuits": "circuit_id"}[
        table
    ]
